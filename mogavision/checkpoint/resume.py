# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Which checkpoint of a work directory ``--resume`` continues from."""
import logging
import os
import os.path as osp
import re
import zipfile
from typing import Optional

from mmengine.logging import print_log

_STEP_CHECKPOINT = re.compile(r'^(?:iter|epoch)_(\d+)\.pth$')


def is_complete_checkpoint(path: str) -> bool:
    """Whether ``path`` is a whole torch (zip) checkpoint: the zip central
    directory, written last, is there and readable."""
    try:
        with zipfile.ZipFile(path):
            return True
    except (OSError, zipfile.BadZipFile):
        return False


def find_resumable_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint ``--resume`` should continue from, or None.

    ``work_dir/last_checkpoint`` decides when it names a complete file (it
    is the run's own record). When it is missing, empty, or names a missing
    or truncated file, the newest complete ``iter_N.pth``/``epoch_N.pth`` in
    ``work_dir`` is used instead, with a warning naming what was skipped.
    """
    record = osp.join(work_dir, 'last_checkpoint')
    named = ''
    if osp.isfile(record):
        with open(record) as f:
            named = f.read().strip()
    if named and is_complete_checkpoint(named):
        return named
    steps = []
    for name in os.listdir(work_dir) if osp.isdir(work_dir) else []:
        match = _STEP_CHECKPOINT.match(name)
        if match:
            steps.append((int(match.group(1)), osp.join(work_dir, name)))
    skipped = [f'{record} names {named!r}, which is missing or incomplete'
               ] if named or osp.isfile(record) else []
    for _, path in sorted(steps, reverse=True):
        if is_complete_checkpoint(path):
            if skipped:
                print_log('; '.join(skipped) + f'. Resuming from {path}.',
                          logger='current', level=logging.WARNING)
            return path
        skipped.append(f'{path} is incomplete')
    if skipped:
        print_log('; '.join(skipped) + '. No complete checkpoint to resume.',
                  logger='current', level=logging.WARNING)
    return None
