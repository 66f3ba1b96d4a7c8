"""tools/train.py, tools/test.py and tools/dist_train.sh as a user runs them:
train -> checkpoint -> --resume -> test -> --out, distributed (gloo), and
resume after a hard kill."""
import glob
import json
import os
import os.path as osp
import pickle
import subprocess
import sys

import pytest
import torch
from conftest import DATA_DIR, tool_env

from mogavision.datasets.synthetic import write_imagenet

CONFIG = 'tests/data/configs/toy_moganet_cls.py'
HOOKS_CONFIG = 'tests/data/configs/toy_moganet_cls_hooks.py'


@pytest.fixture(scope='module')
def toy_data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('toy_imagenet'))
    write_imagenet(root, splits={'train': 4, 'val': 2}, num_classes=4,
                   image_size=40)
    return root


def data_options(root):
    return [f'{split}_dataloader.dataset.data_root={root}'
            for split in ('train', 'val', 'test')]


def run_dirs(work_dir):
    """mmengine's timestamped log folders of each run, oldest first."""
    return sorted(d for d in os.listdir(work_dir)
                  if osp.isdir(osp.join(work_dir, d)) and d[:2] == '20')


def losses(work_dir):
    """Logged training losses by iteration of the work dir's one run."""
    runs = run_dirs(work_dir)
    assert len(runs) == 1, runs
    return logged_losses_of_all_runs(work_dir)


def logged_losses_of_all_runs(work_dir):
    """Logged training losses by iteration from every run's json scalars log
    (a resumed run continues the iteration count)."""
    out = {}
    for run in run_dirs(work_dir):
        with open(osp.join(work_dir, run, 'vis_data', 'scalars.json')) as f:
            for line in f:
                record = json.loads(line)
                if 'loss' in record:
                    out[record['iter']] = record['loss']
    return out


def weights(path):
    return torch.load(path, map_location='cpu')['state_dict']


def test_train_resume_test_out(toy_data, tmp_path, run_tool):
    work_dir = str(tmp_path / 'work')
    out = run_tool(['tools/train.py', CONFIG, '--work-dir', work_dir,
                    '--cfg-options', *data_options(toy_data)])
    assert 'Saving checkpoint at 4 iterations' in out
    assert osp.isfile(osp.join(work_dir, 'iter_4.pth'))
    assert osp.isfile(osp.join(work_dir, 'toy_moganet_cls.py'))  # merged config

    out = run_tool(['tools/train.py', CONFIG, '--work-dir', work_dir,
                    '--resume', '--cfg-options', *data_options(toy_data),
                    'train_cfg.max_iters=6'])
    assert 'Auto resumed from the latest checkpoint' in out or \
        'resumed epoch: 0, iter: 4' in out
    assert osp.isfile(osp.join(work_dir, 'iter_6.pth'))

    def predict(name, *flags):
        """Run tools/test.py with ``flags``; its output and predictions."""
        pkl = str(tmp_path / f'{name}.pkl')
        out = run_tool(['tools/test.py', CONFIG,
                        osp.join(work_dir, 'iter_6.pth'), '--work-dir',
                        work_dir, *flags, '--out', pkl, '--cfg-options',
                        *data_options(toy_data)])
        with open(pkl, 'rb') as f:
            return out, pickle.load(f)

    out, preds = predict('preds')
    assert 'accuracy/top1' in out
    assert len(preds) == 8 and 'pred_score' in preds[0]

    for name, flags, log in (
            ('deploy', ['--deploy', '--channels-last'],
             'Folded BN and layer scales for inference in: backbone'),
            ('compiled', ['--deploy', '--compile'],
             'Compiled with inductor freezing: backbone')):
        out, fast = predict(name, *flags)
        assert log in out
        for a, b in zip(preds, fast):
            torch.testing.assert_close(a['pred_score'], b['pred_score'],
                                       rtol=0, atol=1e-5)


def test_missing_checkpoint_and_data_are_clear_errors(tmp_path):
    proc = subprocess.run(
        [sys.executable, 'tools/test.py', CONFIG, str(tmp_path / 'nope.pth')],
        capture_output=True, text=True)
    assert proc.returncode != 0 and 'Checkpoint not found' in proc.stderr
    text_file = tmp_path / 'downloaded.pth'
    text_file.write_text('404: Not Found\n')
    proc = subprocess.run(
        [sys.executable, 'tools/test.py', CONFIG, str(text_file)],
        capture_output=True, text=True)
    assert proc.returncode != 0
    assert f'{text_file} is a text file, not a checkpoint' in proc.stderr
    assert "starts with '404: Not Found" in proc.stderr
    proc = subprocess.run(
        [sys.executable, 'tools/test.py', 'configs/seg/upernet_moganet_xl.py',
         'mogavision://upernet_moganet_xl'], capture_output=True, text=True)
    assert proc.returncode != 0
    assert 'The release published no checkpoint for upernet_moganet_xl' in \
        proc.stderr and 'upernet_moganet_b, upernet_moganet_l.' in proc.stderr
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', CONFIG, '--work-dir',
         str(tmp_path / 'w'), '--cfg-options',
         *data_options(str(tmp_path / 'absent'))],
        capture_output=True, text=True)
    assert proc.returncode != 0
    assert 'Dataset files not found' in proc.stderr
    assert str(tmp_path / 'absent') in proc.stderr


def test_dist_train_two_processes_gloo(toy_data, tmp_path, run_tool):
    work_dir = str(tmp_path / 'dist')
    out = run_tool(
        ['bash', 'tools/dist_train.sh', HOOKS_CONFIG, '2', '--work-dir',
         work_dir, '--cfg-options', *data_options(toy_data),
         'train_cfg.max_iters=2'],
        env=dict(PYTHONPATH=DATA_DIR, PORT='29533',
                 PYTHON=sys.executable))
    assert 'backend nccl -> gloo' in out
    rank0 = torch.load(osp.join(work_dir, 'rank0.pth'))
    rank1 = torch.load(osp.join(work_dir, 'rank1.pth'))
    initial = weights(osp.join(work_dir, 'iter_2.pth'))
    for key in rank0:
        torch.testing.assert_close(rank0[key], rank1[key], rtol=0, atol=0)
    for key in rank0:  # the checkpoint (rank 0) holds the same weights
        torch.testing.assert_close(initial[key], rank0[key], rtol=0, atol=0)

    out = run_tool(
        ['bash', 'tools/dist_test.sh', CONFIG,
         osp.join(work_dir, 'iter_2.pth'), '2', '--work-dir', work_dir,
         '--cfg-options', *data_options(toy_data)],
        env=dict(PORT='29534', PYTHON=sys.executable))
    assert 'accuracy/top1' in out


def test_deterministic_runs_log_identical_losses(toy_data, tmp_path, run_tool):
    runs = []
    for name in ('a', 'b'):
        work_dir = str(tmp_path / name)
        run_tool(['tools/train.py', CONFIG, '--work-dir', work_dir,
                  '--cfg-options', *data_options(toy_data)])
        runs.append(losses(work_dir))
    assert len(runs[0]) == 4 and runs[0] == runs[1]


SIX_ITERS = ['train_cfg.max_iters=6']
HOOKS_ENV = dict(PYTHONPATH=DATA_DIR)


@pytest.fixture(scope='module')
def uninterrupted(toy_data, tmp_path_factory, run_tool):
    """Work dir of a 6-iteration run, checkpoints every 2 iterations."""
    work_dir = str(tmp_path_factory.mktemp('uninterrupted'))
    run_tool(['tools/train.py', HOOKS_CONFIG, '--work-dir', work_dir,
              '--cfg-options', *data_options(toy_data), *SIX_ITERS],
             env=HOOKS_ENV)
    return work_dir


def assert_same_run(resumed_dir, full_dir):
    expected = weights(osp.join(full_dir, 'iter_6.pth'))
    resumed = weights(osp.join(resumed_dir, 'iter_6.pth'))
    for key, value in expected.items():
        torch.testing.assert_close(resumed[key], value, rtol=0, atol=1e-6,
                                   msg=key)
    assert logged_losses_of_all_runs(resumed_dir) == losses(full_dir)


def run_until_killed(work_dir, options, **env):
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', HOOKS_CONFIG, '--work-dir', work_dir,
         '--cfg-options', *options],
        env=tool_env(**HOOKS_ENV, **env),
        capture_output=True, text=True)
    assert proc.returncode == -9, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_resume_after_sigkill_matches_uninterrupted_run(toy_data, tmp_path,
                                                        run_tool,
                                                        uninterrupted):
    options = [*data_options(toy_data), *SIX_ITERS]
    killed = str(tmp_path / 'killed')
    run_until_killed(killed, options, MOGAVISION_TEST_KILL='1')
    assert open(osp.join(killed, 'last_checkpoint')).read().endswith(
        'iter_4.pth')
    assert not osp.exists(osp.join(killed, 'iter_6.pth'))
    run_tool(['tools/train.py', HOOKS_CONFIG, '--work-dir', killed,
              '--resume', '--cfg-options', *options], env=HOOKS_ENV)
    assert_same_run(killed, uninterrupted)


def test_kill_while_writing_a_checkpoint_keeps_a_complete_one(
        toy_data, tmp_path, run_tool, uninterrupted):
    # max_keep_ckpts=1: mmengine's own hook deletes iter_2.pth before it
    # writes iter_4.pth, so this kill would leave only a truncated file.
    options = [*data_options(toy_data), *SIX_ITERS,
               'default_hooks.checkpoint.max_keep_ckpts=1']
    killed = str(tmp_path / 'killed')
    run_until_killed(killed, options,
                     MOGAVISION_TEST_KILL_WHILE_WRITING='iter_4.pth')
    assert not osp.exists(osp.join(killed, 'iter_4.pth'))
    assert open(osp.join(killed, 'last_checkpoint')).read().endswith(
        'iter_2.pth')
    assert weights(osp.join(killed, 'iter_2.pth'))  # complete, loadable

    out = run_tool(['tools/train.py', HOOKS_CONFIG, '--work-dir', killed,
                    '--resume', '--cfg-options', *options], env=HOOKS_ENV)
    assert 'resumed epoch: 0, iter: 2' in out
    assert 'a checkpoint whose writing was killed' in out  # partial removed
    assert sorted(f for f in os.listdir(killed) if f.endswith('.pth')) == [
        'iter_6.pth', 'rank0.pth']
    assert_same_run(killed, uninterrupted)


def test_resume_skips_a_truncated_checkpoint(toy_data, tmp_path, run_tool,
                                             uninterrupted):
    """A truncated newest file (e.g. written by another tool, or a
    filesystem that lost the tail) is never what ``--resume`` loads."""
    options = [*data_options(toy_data), *SIX_ITERS]
    killed = str(tmp_path / 'killed')
    run_until_killed(killed, options, MOGAVISION_TEST_KILL='1')
    latest = osp.join(killed, 'iter_4.pth')
    with open(latest, 'rb') as f:
        head = f.read(4096)
    with open(latest, 'wb') as f:
        f.write(head)

    proc = subprocess.run(
        [sys.executable, 'tools/train.py', HOOKS_CONFIG, '--work-dir', killed,
         '--resume', latest, '--cfg-options', *options],
        env=tool_env(**HOOKS_ENV), capture_output=True, text=True)
    assert proc.returncode != 0
    assert f'--resume checkpoint {latest} is truncated' in proc.stderr

    out = run_tool(['tools/train.py', HOOKS_CONFIG, '--work-dir', killed,
                    '--resume', '--cfg-options', *options], env=HOOKS_ENV)
    assert f'{latest} is incomplete' in out
    assert 'resumed epoch: 0, iter: 2' in out
    assert_same_run(killed, uninterrupted)


def test_truncated_image_stops_training_naming_the_file(tmp_path):
    root = str(tmp_path / 'data')
    write_imagenet(root, splits={'train': 2, 'val': 1}, num_classes=4,
                   image_size=40)
    images = sorted(glob.glob(osp.join(root, 'train', '*', '*.JPEG')))
    with open(images[0], 'rb') as f:
        data = f.read()
    with open(images[0], 'wb') as f:
        f.write(data[:len(data) // 2])
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', CONFIG, '--work-dir',
         str(tmp_path / 'work'), '--cfg-options', *data_options(root),
         'train_dataloader.num_workers=0'],
        capture_output=True, text=True)
    assert proc.returncode != 0
    assert f'CorruptImageError: {images[0]}: truncated JPEG' in proc.stderr


def test_neck_channels_checked_at_build_time(tmp_path):
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', 'configs/det/mask_rcnn_moganet_xt.py',
         '--work-dir', str(tmp_path), '--cfg-options',
         'model.backbone.out_indices=(1,2,3)'],
        capture_output=True, text=True)
    assert proc.returncode != 0
    assert ('model.neck.in_channels=[32, 64, 96, 192] does not match the '
            'MogaNet features ([64, 96, 192]') in proc.stderr


def test_checkpoint_with_another_num_classes_is_refused(toy_data, tmp_path,
                                                        run_tool):
    work_dir = str(tmp_path / 'work')
    run_tool(['tools/train.py', CONFIG, '--work-dir', work_dir,
              '--cfg-options', *data_options(toy_data),
              'train_cfg.max_iters=2'])
    proc = subprocess.run(
        [sys.executable, 'tools/test.py', CONFIG,
         osp.join(work_dir, 'iter_2.pth'), '--work-dir', work_dir,
         '--allow-class-mismatch', '--cfg-options', *data_options(toy_data),
         'model.head.num_classes=7', 'data_preprocessor.num_classes=7'] + [
            f'{split}_dataloader.dataset.metainfo.classes=[a,b,c,d,e,f,g]'
            for split in ('train', 'val', 'test')],
        capture_output=True, text=True)
    assert proc.returncode != 0
    assert 'head.fc.weight: checkpoint (4, 32) vs model (7, 32)' in \
        proc.stderr
    assert 'num_classes' in proc.stderr
