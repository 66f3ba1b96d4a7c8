"""Hooks used only by the tool tests (imported through custom_imports with
tests/data on PYTHONPATH)."""
import builtins
import os
import os.path as osp
import signal

import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class DumpRankWeightsHook(Hook):
    """Writes each rank's final parameters to work_dir/rank<k>.pth (BN
    running statistics are rank-local under mmengine's DDP defaults)."""

    priority = 'LOWEST'

    def after_train(self, runner):
        model = runner.model.module if hasattr(runner.model, 'module') \
            else runner.model
        torch.save({k: v.detach().cpu() for k, v in model.named_parameters()},
                   osp.join(runner.work_dir, f'rank{runner.rank}.pth'))


@HOOKS.register_module()
class SigkillAfterIterHook(Hook):
    """Kills the process with SIGKILL after iteration ``kill_after`` (after the
    checkpoint hook of that iteration ran), when MOGAVISION_TEST_KILL=1."""

    priority = 'LOWEST'

    def __init__(self, kill_after: int):
        self.kill_after = kill_after

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if os.environ.get('MOGAVISION_TEST_KILL') == '1' and \
                runner.iter + 1 == self.kill_after:
            os.kill(os.getpid(), signal.SIGKILL)


class _KilledWhileWriting:
    """A binary file that writes half of the first write, then SIGKILLs."""

    def __init__(self, file):
        self._file = file

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._file.close()

    def write(self, data):
        self._file.write(data[:len(data) // 2])
        self._file.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    def __getattr__(self, name):
        return getattr(self._file, name)


def _kill_while_writing(name_part: str):
    """Make every binary write to a file whose name contains ``name_part``
    die half-way, as a kill during a checkpoint save would."""
    real_open = builtins.open

    def dying_open(file, mode='r', *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        if 'w' in mode and 'b' in mode and name_part in osp.basename(str(file)):
            return _KilledWhileWriting(handle)
        return handle

    builtins.open = dying_open


if os.environ.get('MOGAVISION_TEST_KILL_WHILE_WRITING'):
    _kill_while_writing(os.environ['MOGAVISION_TEST_KILL_WHILE_WRITING'])
