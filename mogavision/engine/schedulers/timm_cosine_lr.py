# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""timm's cosine lr schedule, as the MogaNet release trained ImageNet."""
import math

from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import INF, _ParamScheduler

from mogavision.registry import PARAM_SCHEDULERS


@PARAM_SCHEDULERS.register_module()
class TimmCosineLR(LRSchedulerMixin, _ParamScheduler):
    r"""The lr of timm's ``CosineLRScheduler`` (timm 0.6.12, one cycle,
    warmup not prefixed, no noise), which the release's ``train.py`` builds
    with ``create_scheduler`` and steps once per epoch.

    At step :math:`t` (counted from ``begin``), with :math:`\eta` the group's
    initial lr:

    .. math::
        \eta_t = \begin{cases}
            w + t (\eta - w) / T_w & t < T_w \\
            m + \frac{1}{2}(\eta - m)(1 + \cos(\pi t / T)) & T_w \le t < T \\
            m & t \ge T
        \end{cases}

    with :math:`w` = ``warmup_lr_init``, :math:`T_w` = ``warmup_t``,
    :math:`m` = ``lr_min`` and :math:`T` = ``t_initial``. The steps after
    :math:`T` are timm's cooldown epochs (``--cooldown_epochs``, 10 by
    default: the release trained 300 + 10 epochs).

    mmengine's ``LinearLR`` + ``CosineAnnealingLR`` cannot give this: their
    cosine starts its phase at its ``begin``, while timm's is already at
    :math:`\cos(\pi T_w / T)` when the warmup ends, and timm holds exactly
    ``lr_min`` after :math:`T`. This scheduler sets the lr outright, so it is
    not chained with others.

    Args:
        optimizer (Optimizer or OptimWrapper): Wrapped optimizer.
        t_initial (int): Length of the cosine cycle, in steps (timm's
            ``t_initial``, the release's ``--epochs``).
        lr_min (float): The lr at the end of the cycle and after it.
            Defaults to 0.
        warmup_t (int): Warmup steps. Defaults to 0.
        warmup_lr_init (float): The lr of step 0 when warming up (absolute,
            as timm's ``--warmup_lr``). Defaults to 0.
        begin (int): Step at which to start updating the lr. Defaults to 0.
        end (int): Step at which to stop updating the lr. Defaults to INF.
        last_step (int): The index of the last step, for resuming without a
            state dict. Defaults to -1.
        by_epoch (bool): Whether steps are epochs. Defaults to True.
        verbose (bool): Whether to print the lr of each update.
            Defaults to False.

    Example:
        >>> # the release's MogaNet-S: --epochs 300 --min_lr 1e-5
        >>> param_scheduler = dict(
        ...     type='mogavision.TimmCosineLR', t_initial=300, lr_min=1e-5,
        ...     warmup_t=5, warmup_lr_init=1e-5)
        >>> train_cfg = dict(by_epoch=True, max_epochs=310)
    """

    def __init__(self,
                 optimizer,
                 t_initial: int,
                 lr_min: float = 0.,
                 warmup_t: int = 0,
                 warmup_lr_init: float = 0.,
                 begin: int = 0,
                 end: int = INF,
                 last_step: int = -1,
                 by_epoch: bool = True,
                 verbose: bool = False):
        if t_initial <= 0 or warmup_t < 0 or lr_min < 0 or warmup_lr_init < 0:
            raise ValueError(
                'TimmCosineLR needs t_initial > 0 and non-negative warmup_t, '
                f'lr_min and warmup_lr_init; got t_initial={t_initial}, '
                f'warmup_t={warmup_t}, lr_min={lr_min}, '
                f'warmup_lr_init={warmup_lr_init}.')
        self.t_initial = t_initial
        self.lr_min = lr_min
        self.warmup_t = warmup_t
        self.warmup_lr_init = warmup_lr_init
        super().__init__(
            optimizer,
            begin=begin,
            end=end,
            last_step=last_step,
            by_epoch=by_epoch,
            verbose=verbose)

    @classmethod
    def build_iter_from_epoch(cls,
                              *args,
                              t_initial,
                              warmup_t=0,
                              begin=0,
                              end=INF,
                              by_epoch=True,
                              epoch_length=None,
                              **kwargs):
        """An iteration-based instance from an epoch-based config (timm's
        schedule on updates, ``t_in_epochs=False``)."""
        if not by_epoch or not epoch_length or epoch_length <= 0:
            raise ValueError(
                'convert_to_iter_based needs an epoch-based TimmCosineLR '
                f'(by_epoch=True) and epoch_length > 0; got by_epoch='
                f'{by_epoch}, epoch_length={epoch_length}.')
        return cls(
            *args,
            t_initial=t_initial * epoch_length,
            warmup_t=warmup_t * epoch_length,
            begin=int(begin * epoch_length),
            end=end if end == INF else int(end * epoch_length),
            by_epoch=False,
            **kwargs)

    def _lr_at(self, base_lr: float, t: int) -> float:
        if t < self.warmup_t:
            step = (base_lr - self.warmup_lr_init) / self.warmup_t
            return self.warmup_lr_init + t * step
        if t < self.t_initial:
            return self.lr_min + 0.5 * (base_lr - self.lr_min) * (
                1 + math.cos(math.pi * t / self.t_initial))
        return self.lr_min

    def _get_value(self):
        return [self._lr_at(base, self.last_step) for base in self.base_values]
