# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Writing files so that no reader ever sees half of one: atomic writes,
clean-up of what killed writers left, and downloads into a cache."""
import glob
import os
import os.path as osp
import shutil
import urllib.error
import urllib.request
from contextlib import contextmanager
from typing import Callable, Iterator, List, Optional, Union

from mmengine.logging import print_log

#: Infix of the hidden file a write goes to before its rename into place.
PARTIAL_INFIX = '.partial-'
DOWNLOAD_TIMEOUT_S = 30


@contextmanager
def atomic_output(path: str) -> Iterator[str]:
    """A path beside ``path`` to write to: renamed to ``path`` when the block
    ends, deleted when it raises. Readers see the old file or the complete
    new one; a killed writer leaves only a hidden
    ``.<name>.partial-<pid>`` file (see :func:`remove_partial_files`)."""
    directory, name = osp.split(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    partial = osp.join(directory, f'.{name}{PARTIAL_INFIX}{os.getpid()}')
    try:
        yield partial
        os.replace(partial, path)
    except BaseException:
        if osp.exists(partial):
            os.remove(partial)
        raise


def atomic_write(data: Union[bytes, str], path: str):
    """Write ``data`` to ``path`` through :func:`atomic_output`, synced to
    disk before the rename."""
    with atomic_output(path) as partial:
        with open(partial, 'wb' if isinstance(data, bytes) else 'w') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def remove_partial_files(directory: str) -> List[str]:
    """Delete the partial files that killed writers left in ``directory``."""
    stale = glob.glob(osp.join(directory, f'.*{PARTIAL_INFIX}*'))
    for path in stale:
        os.remove(path)
    return stale


def download_once(url: str, target: str, name: str = '',
                  validate: Optional[Callable[[str, str], None]] = None,
                  offline_hint: str = '') -> str:
    """``target``, downloading ``url`` there first unless it exists.

    The file appears only complete and, with ``validate(partial_path, url)``,
    only once it passed that check (e.g. not a proxy's error page).
    """
    if osp.isfile(target):
        return target
    print_log(f'Downloading {name}{url} to {target}', logger='current')
    with atomic_output(target) as partial:
        try:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as \
                    resp, open(partial, 'wb') as f:
                shutil.copyfileobj(resp, f)
        except (urllib.error.URLError, OSError) as exc:
            raise RuntimeError(
                f'Could not download {name}{url} ({exc}). On an offline '
                f'machine, fetch that file elsewhere and put it at {target}'
                f'{offline_hint}.') from exc
        if validate is not None:
            validate(partial, url)
    return target
