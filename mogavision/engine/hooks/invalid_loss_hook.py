# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Stop training at the first loss that is NaN or infinite."""
import math

import torch
from mmengine.hooks import Hook

from mogavision.checkpoint import find_resumable_checkpoint
from mogavision.registry import HOOKS


class InvalidLossError(FloatingPointError):
    """A training loss became NaN or infinite."""


@HOOKS.register_module()
class StopOnInvalidLossHook(Hook):
    """Stops training at the first iteration whose loss terms are not
    finite, naming the iteration, the bad terms and the newest good
    checkpoint to resume from.

    mmdet's ``CheckInvalidLossHook`` asserts on the total loss only, every
    50 iterations, and says neither which term went bad nor where to resume;
    mmengine, mmseg, mmpose and mmpretrain have no such check, so a NaN
    trains on and is saved into every later checkpoint. This hook runs
    before the checkpoint hook, so the bad weights are never saved.
    """

    priority = 'ABOVE_NORMAL'

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        terms = {name: float(torch.as_tensor(value).detach())
                 for name, value in (outputs or {}).items()
                 if 'loss' in name}
        bad = {name: value for name, value in terms.items()
               if not math.isfinite(value)}
        if not bad:
            return
        good = {name: value for name, value in terms.items()
                if name not in bad}
        checkpoint = find_resumable_checkpoint(runner.work_dir)
        config = getattr(runner.cfg, 'filename', None) or 'CONFIG'
        where = (f'Resume from the newest good checkpoint: python '
                 f'tools/train.py {config} --resume {checkpoint}'
                 if checkpoint else
                 f'No checkpoint was saved before it in {runner.work_dir}; '
                 'start again')
        raise InvalidLossError(
            f'Training stopped at iteration {runner.iter + 1} (epoch '
            f'{runner.epoch + 1}): loss terms are not finite: '
            + ', '.join(f'{k}={v}' for k, v in bad.items())
            + (f' (finite: {", ".join(f"{k}={v:.4g}" for k, v in good.items())})'
               if good else '')
            + '. The weights after this step are invalid and are not saved. '
            f'{where}, with a lower learning rate (optim_wrapper.optimizer.lr),'
            ' gradient clipping (optim_wrapper.clip_grad=dict(max_norm=...))'
            ' or without --amp.')
