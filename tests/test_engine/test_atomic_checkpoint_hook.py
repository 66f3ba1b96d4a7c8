"""Atomic checkpoint writing and the choice of checkpoint for --resume."""
import os

import pytest
import torch
from mmengine.fileio import get_file_backend

from mogavision.checkpoint import (find_resumable_checkpoint,
                                   is_complete_checkpoint)
from mogavision.fileio import atomic_write, remove_partial_files
from mogavision.engine.hooks.atomic_checkpoint_hook import ATOMIC_LOCAL_BACKEND


def save(path, value):
    torch.save({'value': torch.tensor(value)}, path)
    return str(path)


def truncate(path):
    with open(path, 'rb') as f:
        head = f.read(os.path.getsize(path) // 2)
    with open(path, 'wb') as f:
        f.write(head)


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = str(tmp_path / 'iter_2.pth')
    atomic_write(b'old', target)

    class Broken:
        def __init__(self, file):
            self.file = file

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

        def write(self, data):
            self.file.write(data[:1])
            raise OSError('No space left on device')

    real_open = open
    monkeypatch.setattr('builtins.open',
                        lambda *a, **k: Broken(real_open(*a, **k)))
    with pytest.raises(OSError, match='No space'):
        atomic_write(b'new contents', target)
    monkeypatch.undo()
    assert open(target, 'rb').read() == b'old'
    assert os.listdir(tmp_path) == ['iter_2.pth']  # no partial file left


def test_backend_writes_through_a_partial_file(tmp_path):
    backend = get_file_backend(backend_args=dict(backend=ATOMIC_LOCAL_BACKEND))
    target = str(tmp_path / 'sub' / 'last_checkpoint')
    backend.put_text('work/iter_4.pth', target)
    backend.put(b'abc', str(tmp_path / 'x.pth'))
    assert open(target).read() == 'work/iter_4.pth'
    assert sorted(os.listdir(tmp_path)) == ['sub', 'x.pth']
    (tmp_path / '.iter_6.pth.partial-123').write_bytes(b'half')
    assert remove_partial_files(str(tmp_path)) == [
        str(tmp_path / '.iter_6.pth.partial-123')]


def test_complete_checkpoint_detection(tmp_path):
    path = save(tmp_path / 'iter_2.pth', 1.0)
    assert is_complete_checkpoint(path)
    truncate(path)
    assert not is_complete_checkpoint(path)
    assert not is_complete_checkpoint(str(tmp_path / 'missing.pth'))


@pytest.mark.parametrize('record', [None, '', 'iter_6.pth', 'iter_4.pth'])
def test_resume_falls_back_to_the_newest_complete_checkpoint(tmp_path, record):
    for step in (2, 4):
        save(tmp_path / f'iter_{step}.pth', float(step))
    truncate(tmp_path / 'iter_4.pth')
    if record is not None:  # empty, missing file, truncated file
        (tmp_path / 'last_checkpoint').write_text(
            str(tmp_path / record) if record else '')
    assert find_resumable_checkpoint(str(tmp_path)) == str(
        tmp_path / 'iter_2.pth')


def test_resume_trusts_last_checkpoint_when_complete(tmp_path):
    for step in (2, 4, 8):
        save(tmp_path / f'iter_{step}.pth', float(step))
    # iter_8.pth left over from an older run in the same work dir
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_4.pth'))
    assert find_resumable_checkpoint(str(tmp_path)) == str(
        tmp_path / 'iter_4.pth')


def test_nothing_to_resume(tmp_path):
    assert find_resumable_checkpoint(str(tmp_path)) is None
    assert find_resumable_checkpoint(str(tmp_path / 'absent')) is None
