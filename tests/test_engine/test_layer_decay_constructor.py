"""``LayerDecayOptimWrapperConstructor`` gives every parameter the lr and
weight decay of the release's ``LearningRateDecayOptimizerConstructorMogaNet``
(detection/mmcv_custom of Westlake-AI/MogaNet), in every toolbox it is
registered in: lr = base_lr * decay_rate ** (num_layers + 2 - layer_id - 1),
and no weight decay on names ending in ``.bias`` and on parameters with
``param.squeeze().ndim == 1``."""
import os.path as osp

import pytest
import torch
import torch.nn as nn
from conftest import REPO_ROOT
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

import mogavision  # noqa: F401
from mogavision.config import build_model
from mogavision.models import MogaNet

CONFIG = osp.join(REPO_ROOT, 'configs', 'det',
                  'cascade_mask_rcnn_moganet_b_giou_4conv1f_ms_3x.py')
TINY_ARCH = dict(embed_dims=[8, 16, 24, 32], depths=[1, 1, 4, 1],
                 ffn_ratios=[4, 4, 4, 4])


def release_layer_id(name: str) -> int:
    """The release's ``get_num_layer_layer_wise`` with num_layers 12."""
    parts = name.split('.')
    if parts[0] != 'backbone':
        return 13
    if parts[1].startswith('patch_embed'):
        return {'1': 0, '2': 3, '3': 4, '4': 12}[parts[1][-1]]
    if parts[1].startswith('blocks'):
        stage, block = int(parts[1][-1]), int(parts[2])
        if stage in (1, 2):
            return stage + 1
        return min(3 + block // 2, 11) if stage == 3 else 12
    return 13


def release_no_decay(name: str, param: torch.Tensor) -> bool:
    return len(param.squeeze().shape) == 1 or name.endswith('.bias')


def mismatches(model: nn.Module, optim_wrapper, base_lr=1e-4, wd=0.05):
    """``(name, (lr, wd) ours, (lr, wd) release's)`` where they differ."""
    names = {id(p): n for n, p in model.named_parameters()}
    params = dict(model.named_parameters())
    seen, wrong = set(), []
    for group in optim_wrapper.optimizer.param_groups:
        for param in group['params']:
            name = names[id(param)]
            seen.add(name)
            expected = (base_lr * 0.8**(14 - release_layer_id(name) - 1),
                        0. if release_no_decay(name, params[name]) else wd)
            ours = (group['lr'], group['weight_decay'])
            if ours != pytest.approx(expected, rel=1e-12, abs=0):
                wrong.append((name, ours, expected))
    assert seen == set(params), 'every parameter is optimized'
    return wrong


@pytest.fixture(scope='module')
def cascade_b():
    cfg = Config.fromfile(CONFIG)
    cfg.model.backbone.init_cfg = None
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = build_model(cfg)
    finally:
        torch.set_num_threads(threads)
    with DefaultScope.overwrite_default_scope('mmdet'):
        optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    return model, optim_wrapper


def test_cascade_b_every_parameter_gets_release_lr_and_decay(cascade_b):
    model, optim_wrapper = cascade_b
    wrong = mismatches(model, optim_wrapper)
    assert not wrong, (f'{len(wrong)} parameters differ from the release '
                       f'(name, ours, release): {wrong[:5]}')


def test_cascade_b_squeezed_1d_parameters_get_no_decay(cascade_b):
    """The parameters that are 1-D only once squeezed: 175 of 1190."""
    model, optim_wrapper = cascade_b
    decay = {id(p): g['weight_decay']
             for g in optim_wrapper.optimizer.param_groups
             for p in g['params']}
    params = dict(model.named_parameters())
    squeezed = {n for n, p in params.items()
                if p.ndim > 1 and p.squeeze().ndim == 1}
    assert (len(params), len(squeezed)) == (1190, 175)
    kinds = ('layer_scale_1', 'layer_scale_2', 'attn.sigma.scale',
             'mlp.sigma.scale', 'mlp.decompose.weight')
    assert all(n.endswith(kinds) for n in squeezed)
    assert all(any(n.endswith(kind) for n in squeezed) for kind in kinds)
    assert [n for n in sorted(squeezed) if decay[id(params[n])] != 0] == []


class _Detector(nn.Module):

    def __init__(self):
        super().__init__()
        self.backbone = MogaNet(arch=TINY_ARCH)
        self.neck = nn.Conv2d(32, 8, 1)


@pytest.mark.parametrize('scope', ['mmpretrain', 'mmdet', 'mmseg', 'mmpose'])
@pytest.mark.parametrize('constructor', [
    'LayerDecayOptimWrapperConstructor',
    'mogavision.LayerDecayOptimWrapperConstructor'
])
def test_every_toolbox_builds_the_release_rule(scope, constructor):
    model = _Detector()
    cfg = dict(
        type='OptimWrapper',
        constructor=constructor,
        optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
        paramwise_cfg=dict(decay_rate=0.8, num_layers=12))
    with DefaultScope.overwrite_default_scope(scope):
        optim_wrapper = build_optim_wrapper(model, cfg)
    assert not mismatches(model, optim_wrapper)


@pytest.mark.parametrize('paramwise_cfg', [
    dict(num_layers=12), dict(decay_rate=0.8, decay_type='stage_wise')])
def test_bad_paramwise_cfg_is_an_error(paramwise_cfg):
    cfg = dict(type='OptimWrapper',
               constructor='mogavision.LayerDecayOptimWrapperConstructor',
               optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
               paramwise_cfg=paramwise_cfg)
    with pytest.raises(KeyError, match='decay_rate'):
        build_optim_wrapper(_Detector(), cfg)
