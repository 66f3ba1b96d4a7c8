"""``mogavision.TimmCosineLR``: timm 0.6.12's cosine schedule (warmup not
prefixed, cooldown at lr_min) as an mmengine parameter scheduler."""
import math

import pytest
import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper
from mmengine.registry import DefaultScope

import mogavision  # noqa: F401
from mogavision.engine import TimmCosineLR

ARGS = dict(t_initial=10, lr_min=1e-5, warmup_t=2, warmup_lr_init=1e-4)


def timm_lr(t, base=1e-2, t_initial=10, lr_min=1e-5, warmup_t=2,
            warmup_lr_init=1e-4):
    if t < warmup_t:
        return warmup_lr_init + t * (base - warmup_lr_init) / warmup_t
    if t < t_initial:
        return lr_min + 0.5 * (base - lr_min) * (
            1 + math.cos(math.pi * t / t_initial))
    return lr_min


def optim_wrapper(*lrs):
    groups = [dict(params=[nn.Parameter(torch.zeros(1))], lr=lr)
              for lr in lrs]
    return OptimWrapper(torch.optim.AdamW(groups, lr=lrs[0]))


@pytest.mark.parametrize('scope', ['mmpretrain', 'mmdet', 'mmseg', 'mmpose'])
@pytest.mark.parametrize('type_name', ['TimmCosineLR',
                                       'mogavision.TimmCosineLR'])
def test_builds_from_every_toolbox(scope, type_name):
    registry = __import__(f'{scope}.registry',
                          fromlist=['PARAM_SCHEDULERS']).PARAM_SCHEDULERS
    with DefaultScope.overwrite_default_scope(scope):
        scheduler = registry.build(dict(type=type_name, **ARGS),
                                   default_args=dict(
                                       optimizer=optim_wrapper(1e-2),
                                       epoch_length=4))
    assert isinstance(scheduler, TimmCosineLR)


def test_lr_of_every_step_per_group():
    """Warmup from warmup_lr_init, cosine with its phase from step 0, then
    lr_min; each group from its own initial lr."""
    wrapper = optim_wrapper(1e-2, 1e-3)
    scheduler = TimmCosineLR(wrapper, **ARGS)
    wrapper.step()
    for t in range(14):
        lrs = [g['lr'] for g in wrapper.optimizer.param_groups]
        assert lrs == pytest.approx([timm_lr(t), timm_lr(t, base=1e-3)],
                                    rel=1e-12)
        scheduler.step()


def test_convert_to_iter_based_is_timm_on_updates():
    from mmengine.registry import PARAM_SCHEDULERS
    wrapper = optim_wrapper(1e-2)
    scheduler = PARAM_SCHEDULERS.build(
        dict(type='mogavision.TimmCosineLR', convert_to_iter_based=True,
             **ARGS),
        default_args=dict(optimizer=wrapper, epoch_length=4))
    assert not scheduler.by_epoch
    wrapper.step()
    for i in range(48):
        assert wrapper.param_groups[0]['lr'] == pytest.approx(
            timm_lr(i, t_initial=40, warmup_t=8), rel=1e-12)
        scheduler.step()


def test_resumes_from_its_state_dict():
    wrapper = optim_wrapper(1e-2)
    scheduler = TimmCosineLR(wrapper, **ARGS)
    wrapper.step()
    for _ in range(4):
        scheduler.step()
    state = scheduler.state_dict()
    resumed_wrapper = optim_wrapper(1e-2)
    resumed_wrapper.param_groups[0]['initial_lr'] = 1e-2
    resumed = TimmCosineLR(resumed_wrapper, last_step=3, **ARGS)
    resumed.load_state_dict(state)
    resumed.step()
    assert resumed_wrapper.param_groups[0]['lr'] == pytest.approx(
        timm_lr(5), rel=1e-12)


@pytest.mark.parametrize('bad', [dict(t_initial=0), dict(warmup_t=-1),
                                 dict(lr_min=-1e-5)])
def test_bad_arguments_are_errors(bad):
    with pytest.raises(ValueError, match='TimmCosineLR needs'):
        TimmCosineLR(optim_wrapper(1e-2), **{**ARGS, **bad})
