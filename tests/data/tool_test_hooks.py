"""Hooks used only by the tool tests (imported through custom_imports with
tests/data on PYTHONPATH)."""
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
