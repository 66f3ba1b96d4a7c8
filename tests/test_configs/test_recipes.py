"""Every config's training recipe is the release's: the optimizer the Runner
builds gives each parameter the release's lr and weight decay, and the lr at
every sampled iteration is the release's (relative 1e-9).

The release's side comes from

* the tables of ``tests/data/optim`` (the release's own 1.x toolboxes
  building its optimizers and stepping mmcv's LrUpdaterHook, see the README
  there) for Mask R-CNN-S, UperNet-S and pose-S 256x192, and
* for the other configs, the release's recipe as the MogaNet reference (§4)
  and its ``train.py`` (timm 0.6.12) state it, written out below without
  reading the configs: mmcv 1.x's warmup and step/poly policies and timm's
  cosine schedule. A test checks these formulas against the tables first.

The optimizer is built with ``build_optim_wrapper`` in the config's scope;
the schedulers are built by the Runner's own ``_build_param_scheduler`` and
stepped by the Runner's ``ParamSchedulerHook`` in the train loop's order.
"""
import copy
import functools
import json
import math
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
from conftest import DATA_DIR, REPO_ROOT
from mmengine.config import Config
from mmengine.hooks import ParamSchedulerHook
from mmengine.logging import MMLogger
from mmengine.optim import OptimWrapper, build_optim_wrapper
from mmengine.registry import DefaultScope
from mmengine.runner import BaseLoop, Runner

import mogavision  # noqa: F401
from mogavision.config import build_model

CONFIGS = osp.join(REPO_ROOT, 'configs')
TABLES = osp.join(DATA_DIR, 'optim')
REL = 1e-9

# Epoch lengths of the release's runs (as the tables assume): COCO train2017
# 117266 images / 16, COCO person instances 149813 / 256, ImageNet 1281167 /
# 1024 (timm drops the last partial batch). The ImageNet schedule is per
# epoch, so its length only places the sampled iterations.
DET_EPOCH, POSE_EPOCH, CLS_EPOCH = 7330, 585, 1251
WARMUP_RATIO = 0.001  # det and pose: mmcv's warmup_ratio

# The release's recipe per config (reference §4; configs/<task>/<name>.py).
# det: (lr, warmup_iters, epochs); milestones [8, 11] for 12, [27, 33] for 36.
DET = {
    **{f'retinanet_moganet_{s}': (1e-4, 500, 12)
       for s in ('xt', 't', 's', 'b', 'l')},
    **{f'mask_rcnn_moganet_{s}': (2e-4, 500, 12) for s in ('xt', 't', 's')},
    **{f'mask_rcnn_moganet_{s}': (1e-4, 500, 12) for s in ('b', 'l')},
    **{f'mask_rcnn_moganet_{s}_ms_3x': (2e-4, 500, 36)
       for s in ('t', 's', 'b', 'l')},
    'cascade_mask_rcnn_moganet_s_ms_3x': (2e-4, 500, 36),
    'cascade_mask_rcnn_moganet_s_giou_4conv1f_ms_3x': (2e-4, 1000, 36),
    'cascade_mask_rcnn_moganet_b_giou_4conv1f_ms_3x': (1e-4, 1000, 36),
    'cascade_mask_rcnn_moganet_l_giou_4conv1f_ms_3x': (1e-4, 1000, 36),
}
DET_LAYER_DECAY = {'cascade_mask_rcnn_moganet_b_giou_4conv1f_ms_3x',
                   'cascade_mask_rcnn_moganet_l_giou_4conv1f_ms_3x'}
MILESTONES = {12: [8, 11], 36: [27, 33]}
# seg: (lr, weight decay, max_iters, poly power, warmup_iters, warmup_ratio)
SEG = {
    **{f'semantic_fpn_moganet_{s}': (2e-4, 1e-4, 80000, 0.9, 0, None)
       for s in ('xt', 't', 's', 'b', 'l')},
    **{f'upernet_moganet_{s}': (1e-4, 0.01, 160000, 1.0, 1500, 1e-6)
       for s in ('xt', 't', 's', 'b', 'l', 'xl')},
}
# pose: Adam lr 1e-3, no weight decay, 210 epochs, steps [170, 200], warmup
# 500 iterations; the same for every config.
POSE = [f'topdown_heatmap_moganet_{s}_{r}' for s in ('xt', 't', 's', 'b')
        for r in ('256x192', '384x288')]
# cls (TRAINING.md of the release): (weight decay, min_lr); AdamW lr 1e-3,
# timm's defaults --warmup_epochs 5 --warmup_lr 1e-5 --cooldown_epochs 10,
# --epochs 300.
CLS = {
    'moganet_xt_224': (0.03, 1e-6), 'moganet_xt_256': (0.03, 1e-6),
    'moganet_t_224': (0.04, 1e-6), 'moganet_t_256': (0.04, 1e-6),
    **{f'moganet_{s}_224': (0.05, 1e-5) for s in ('s', 'b', 'l', 'xl')},
}


# --- the release's formulas ----------------------------------------------

def mmcv_warmup(regular: float, i: int, warmup_iters: int,
                ratio: float) -> float:
    """mmcv 1.x linear warmup: it multiplies the regular lr."""
    if i >= warmup_iters:
        return regular
    return regular * (1 - (1 - i / warmup_iters) * (1 - ratio))


def mmcv_step(base_lr, i, epoch_length, milestones, warmup_iters):
    """mmcv's StepLrUpdaterHook (by epoch, gamma 0.1) with linear warmup."""
    epoch = i // epoch_length
    regular = base_lr * 0.1**sum(epoch >= m for m in milestones)
    return mmcv_warmup(regular, i, warmup_iters, WARMUP_RATIO)


def mmcv_poly(base_lr, i, max_iters, power, warmup_iters, warmup_ratio):
    """mmcv's PolyLrUpdaterHook (by iteration, min_lr 0) over all
    iterations, with linear warmup."""
    regular = base_lr * (1 - i / max_iters)**power
    return mmcv_warmup(regular, i, warmup_iters, warmup_ratio)


def timm_cosine(base_lr, epoch, min_lr, epochs=300, warmup_epochs=5,
                warmup_lr=1e-5):
    """timm 0.6.12 ``create_scheduler`` (sched cosine): CosineLRScheduler
    with t_initial=epochs, stepped with the epoch number after every epoch;
    its ``step_update`` does nothing (t_in_epochs). The train loop runs
    ``epochs + cooldown_epochs`` epochs; those after ``epochs`` get min_lr."""
    if epoch < warmup_epochs:
        return warmup_lr + epoch * (base_lr - warmup_lr) / warmup_epochs
    if epoch < epochs:
        return min_lr + 0.5 * (base_lr - min_lr) * (
            1 + math.cos(math.pi * epoch / epochs))
    return min_lr


# --- building as the Runner does -----------------------------------------

pytestmark = pytest.mark.usefixtures('single_thread')  # conftest


@functools.lru_cache(maxsize=None)
def load(task: str, name: str) -> Config:
    """The config (shared between tests: do not modify it)."""
    return Config.fromfile(osp.join(CONFIGS, task, name + '.py'))


def table(name: str) -> dict:
    with open(osp.join(TABLES, name + '.json')) as f:
        return json.load(f)


def build_optimizer(cfg: Config):
    """The config's model (no pretrained weights, SyncBN as BN) and the
    optimizer wrapper built from ``cfg.optim_wrapper`` in its scope."""
    cfg = copy.deepcopy(cfg)
    cfg.model.backbone.init_cfg = None
    model = build_model(cfg)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    return model, wrapper


def groups_by_name(model: nn.Module, wrapper: OptimWrapper) -> dict:
    names = {id(p): n for n, p in model.named_parameters()}
    groups = {}
    for group in wrapper.optimizer.param_groups:
        for param in group['params']:
            assert names[id(param)] not in groups, 'a parameter in two groups'
            groups[names[id(param)]] = group
    assert set(groups) == set(names.values()), 'every parameter is optimized'
    return groups


def settings(group: dict) -> tuple:
    """``(lr, weight_decay, beta1, beta2, eps)`` of a param group."""
    return (group['lr'], group['weight_decay'], *group['betas'],
            group['eps'])


class _TrainLoop(BaseLoop):
    """Only what the Runner reads of its train loop to build schedulers."""

    def __init__(self, max_epochs, max_iters):  # no runner, no dataloader
        self.max_epochs, self.max_iters = max_epochs, max_iters

    def run(self):
        raise NotImplementedError


def iter_based(cfg: Config) -> bool:
    train_cfg = cfg.train_cfg
    return train_cfg.get('type') == 'IterBasedTrainLoop' or \
        train_cfg.get('by_epoch', True) is False


_SCHEDULES = {}


def lr_at(cfg: Config, initial_lrs, iters, epoch_length=None) -> dict:
    """``{initial lr: [lr of the optimizer step at each of iters]}``.

    The schedulers read and write each param group's lr alone, so an
    optimizer with one group per distinct initial lr of the built one stands
    for it (stepping a 640-group optimizer through 264k iterations would take
    minutes). They are built by ``Runner._build_param_scheduler`` (default
    ``end``, ``convert_to_iter_based`` with the epoch length) and stepped by
    ``ParamSchedulerHook`` after every iteration and, epoch-based, after
    every epoch, as the train loops call it.
    """
    initial_lrs = sorted(set(initial_lrs))
    iters = sorted(iters)
    key = json.dumps([cfg.param_scheduler, cfg.train_cfg, cfg.default_scope,
                      initial_lrs, iters, epoch_length], sort_keys=True,
                     default=str)
    if key in _SCHEDULES:
        return _SCHEDULES[key]
    by_epoch = not iter_based(cfg)
    if not by_epoch:
        max_iters = cfg.train_cfg.max_iters
        max_epochs, epoch_length = None, max_iters
    else:
        max_epochs = cfg.train_cfg.max_epochs
        max_iters = max_epochs * epoch_length
    optimizer = torch.optim.SGD(
        [dict(params=[nn.Parameter(torch.zeros(1))], lr=lr)
         for lr in initial_lrs], lr=initial_lrs[0])
    wrapper = OptimWrapper(optimizer)
    runner = SimpleNamespace(
        _train_loop=_TrainLoop(max_epochs, max_iters), max_epochs=max_epochs,
        max_iters=max_iters, train_dataloader=range(epoch_length),
        logger=MMLogger.get_current_instance())
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        runner.param_schedulers = Runner._build_param_scheduler(
            runner, cfg.param_scheduler, wrapper)
    hook = ParamSchedulerHook()
    wanted = set(iters)
    lrs = {lr: [] for lr in initial_lrs}
    # The first optimizer step precedes the first scheduler step.
    wrapper.step()
    for i in range(max_iters):
        if i in wanted:
            for lr, group in zip(initial_lrs, optimizer.param_groups):
                lrs[lr].append(group['lr'])
        hook.after_train_iter(runner, batch_idx=i % epoch_length)
        if by_epoch and (i + 1) % epoch_length == 0:
            hook.after_train_epoch(runner)
    assert all(len(v) == len(iters) for v in lrs.values()), \
        f'iterations beyond the {max_iters} of the config: {iters[-3:]}'
    _SCHEDULES[key] = lrs
    return lrs


def sampled_iters(max_iters, epoch_length=None, warmup=0):
    """The first iterations, the warmup's end, every epoch boundary (or every
    tenth of an iteration-based run), the middle and the last."""
    iters = {0, 1, 100, 250, 499, 500, 501, 1000, 1500, max_iters // 2,
             max_iters - 1}
    if warmup:
        iters |= {warmup - 1, warmup, warmup + 1}
    step = epoch_length or max_iters // 10
    for boundary in range(step, max_iters, step):
        iters |= {boundary - 1, boundary}
    return sorted(i for i in iters if 0 <= i < max_iters)


def assert_close(actual, expected, iters):
    assert len(actual) == len(expected) == len(iters)
    mismatches = [(it, a, e) for it, a, e in zip(iters, actual, expected)
                  if a != pytest.approx(e, rel=REL, abs=0)]
    assert not mismatches, (
        f'{len(mismatches)} of {len(actual)} sampled lrs differ from the '
        f"release's (iteration, ours, release's): {mismatches[:5]}")


# --- the release's formulas against its own tables -----------------------

def test_release_formulas_reproduce_the_tables():
    """The formulas used for configs without a table give the tables'
    values, so they are the release's."""
    det = table('det_mask_rcnn_s')['schedule']
    seg = table('seg_upernet_s')['schedule']
    pose = table('pose_s_256')['schedule']
    checks = [
        (det, lambda i: mmcv_step(2e-4, i, DET_EPOCH, [8, 11], 500)),
        (seg, lambda i: mmcv_poly(1e-4, i, 160000, 1.0, 1500, 1e-6)),
        (pose, lambda i: mmcv_step(1e-3, i, POSE_EPOCH, [170, 200], 500)),
    ]
    for schedule, formula in checks:
        assert_close([formula(i) for i in schedule['iters']],
                     schedule['base_lr'], schedule['iters'])


# --- detection ------------------------------------------------------------

def custom_keys_rule(name, base_lr, wd=0.05):
    """mmcv's DefaultOptimizerConstructor with the release's custom_keys
    (decay_mult 0 for names containing layer_scale, scale or norm)."""
    matched = any(k in name for k in ('layer_scale', 'scale', 'norm'))
    return base_lr, 0. if matched else wd


def compare_with_table(groups: dict, params: dict, rename=lambda n: n):
    assert {rename(n) for n in params} == set(groups)
    wrong = []
    for name, release in params.items():
        group = groups[rename(name)]
        ours = settings(group)
        theirs = (release['lr'], release['weight_decay'], *release['betas'],
                  release['eps'])
        if ours != pytest.approx(theirs, rel=REL, abs=0):
            wrong.append((name, ours, theirs))
    assert not wrong, (f'{len(wrong)} parameters differ from the release '
                       f'(name, ours, release): {wrong[:5]}')


def test_det_mask_rcnn_s_optimizer_equals_release_table():
    model, wrapper = build_optimizer(load('det', 'mask_rcnn_moganet_s'))
    assert type(wrapper.optimizer).__name__ == 'AdamW'
    compare_with_table(groups_by_name(model, wrapper),
                       table('det_mask_rcnn_s')['params'])


def test_det_mask_rcnn_s_schedule_equals_release_table():
    release = table('det_mask_rcnn_s')['schedule']
    assert release['epoch_length'] == DET_EPOCH
    ours = lr_at(load('det', 'mask_rcnn_moganet_s'), [2e-4], release['iters'],
                 DET_EPOCH)
    assert_close(ours[2e-4], release['by_initial_lr']['0.0002'],
                 release['iters'])


@pytest.mark.parametrize('name', [
    'retinanet_moganet_xt', 'cascade_mask_rcnn_moganet_s_ms_3x',
    'cascade_mask_rcnn_moganet_s_giou_4conv1f_ms_3x'
])
def test_det_optimizer_follows_release_custom_keys(name):
    """Families without a table; the GIoU heads' ConvModule ``bn`` is not
    matched by the keys and keeps its decay, as in the release."""
    model, wrapper = build_optimizer(load('det', name))
    base_lr = DET[name][0]
    wrong = []
    for pname, group in groups_by_name(model, wrapper).items():
        expected = custom_keys_rule(pname, base_lr) + (0.9, 0.999, 1e-8)
        ours = settings(group)
        if ours != pytest.approx(expected, rel=REL, abs=0):
            wrong.append((pname, ours, expected))
    assert not wrong, wrong[:5]


def _family_root(name):
    if name in DET_LAYER_DECAY:
        return 'cascade_mask_rcnn_moganet_b_giou_4conv1f_ms_3x'
    if name.startswith('cascade'):
        return 'cascade_mask_rcnn_moganet_s_ms_3x'
    return 'retinanet_moganet_xt' if name.startswith('retinanet') else \
        'mask_rcnn_moganet_s'


@pytest.mark.parametrize('name', sorted(DET))
def test_det_sizes_share_their_family_optimizer(name):
    """The sizes not built above differ from a built one only in lr."""
    ours = load('det', name).optim_wrapper.to_dict()
    root = load('det', _family_root(name)).optim_wrapper.to_dict()
    assert ours.pop('optimizer').pop('lr') == DET[name][0]
    root.pop('optimizer').pop('lr')
    assert ours == root


def det_initial_lrs(name):
    base_lr = DET[name][0]
    if name in DET_LAYER_DECAY:
        return [base_lr * 0.8**(13 - layer) for layer in range(14)]
    return [base_lr]


@pytest.mark.parametrize('name', sorted(DET))
def test_det_schedule_equals_release(name):
    base_lr, warmup, epochs = DET[name]
    cfg = load('det', name)
    iters = sampled_iters(epochs * DET_EPOCH, DET_EPOCH, warmup)
    for initial_lr, lrs in lr_at(cfg, det_initial_lrs(name), iters,
                                 DET_EPOCH).items():
        expected = [mmcv_step(initial_lr, i, DET_EPOCH, MILESTONES[epochs],
                              warmup) for i in iters]
        assert_close(lrs, expected, iters)


# --- segmentation ---------------------------------------------------------

def test_seg_upernet_s_optimizer_equals_release_table():
    model, wrapper = build_optimizer(load('seg', 'upernet_moganet_s'))
    compare_with_table(groups_by_name(model, wrapper),
                       table('seg_upernet_s')['params'])


def test_seg_upernet_s_schedule_equals_release_table():
    release = table('seg_upernet_s')['schedule']
    ours = lr_at(load('seg', 'upernet_moganet_s'), [1e-4], release['iters'])
    assert_close(ours[1e-4], release['by_initial_lr']['0.0001'],
                 release['iters'])


def test_seg_semantic_fpn_optimizer_follows_release():
    """The release's FPN: plain AdamW(lr 2e-4, weight_decay 1e-4)."""
    model, wrapper = build_optimizer(load('seg', 'semantic_fpn_moganet_xt'))
    for name, group in groups_by_name(model, wrapper).items():
        assert settings(group) == (2e-4, 1e-4, 0.9, 0.999, 1e-8), name


@pytest.mark.parametrize('name', sorted(SEG))
def test_seg_sizes_share_their_family_optimizer(name):
    root = 'semantic_fpn_moganet_xt' if 'fpn' in name else 'upernet_moganet_s'
    assert load('seg', name).optim_wrapper == load('seg', root).optim_wrapper
    lr, wd = SEG[name][:2]
    optimizer = load('seg', name).optim_wrapper.optimizer
    assert (optimizer.lr, optimizer.weight_decay) == (lr, wd)


@pytest.mark.parametrize('name', sorted(SEG))
def test_seg_schedule_equals_release(name):
    lr, _, max_iters, power, warmup, ratio = SEG[name]
    iters = sampled_iters(max_iters, warmup=warmup)
    lrs = lr_at(load('seg', name), [lr], iters)[lr]
    expected = [mmcv_poly(lr, i, max_iters, power, warmup, ratio)
                for i in iters]
    assert_close(lrs, expected, iters)


# --- pose -----------------------------------------------------------------

def test_pose_s_optimizer_equals_release_table():
    model, wrapper = build_optimizer(
        load('pose', 'topdown_heatmap_moganet_s_256x192'))
    assert type(wrapper.optimizer).__name__ == 'Adam'
    # mmpose 0.x names the head keypoint_head, 1.x head.
    compare_with_table(groups_by_name(model, wrapper),
                       table('pose_s_256')['params'],
                       rename=lambda n: n.replace('keypoint_head.', 'head.'))


def test_pose_s_schedule_equals_release_table():
    release = table('pose_s_256')['schedule']
    assert release['epoch_length'] == POSE_EPOCH
    ours = lr_at(load('pose', 'topdown_heatmap_moganet_s_256x192'), [1e-3],
                 release['iters'], POSE_EPOCH)
    assert_close(ours[1e-3], release['by_initial_lr']['0.001'],
                 release['iters'])


@pytest.mark.parametrize('name', POSE)
def test_pose_recipe_equals_release(name):
    cfg = load('pose', name)
    root = load('pose', 'topdown_heatmap_moganet_s_256x192')
    assert cfg.optim_wrapper == root.optim_wrapper
    iters = sampled_iters(210 * POSE_EPOCH, POSE_EPOCH, 500)
    lrs = lr_at(cfg, [1e-3], iters, POSE_EPOCH)[1e-3]
    expected = [mmcv_step(1e-3, i, POSE_EPOCH, [170, 200], 500)
                for i in iters]
    assert_close(lrs, expected, iters)


# --- classification -------------------------------------------------------

def test_cls_optimizer_follows_timm():
    """timm 0.6.12 ``create_optimizer_v2`` (the release's MogaNet has an
    empty ``no_weight_decay``): weight decay 0 for parameters with
    ``ndim <= 1`` or a name ending in ``.bias``, the rest decayed."""
    model, wrapper = build_optimizer(load('cls', 'moganet_xt_224'))
    assert type(wrapper.optimizer).__name__ == 'AdamW'
    params = dict(model.named_parameters())
    wrong = []
    for name, group in groups_by_name(model, wrapper).items():
        no_decay = params[name].ndim <= 1 or name.endswith('.bias')
        expected = (1e-3, 0. if no_decay else 0.03, 0.9, 0.999, 1e-8)
        ours = settings(group)
        if ours != pytest.approx(expected, rel=REL, abs=0):
            wrong.append((name, ours, expected))
    assert not wrong, wrong[:5]
    decayed = [n for n, g in groups_by_name(model, wrapper).items()
               if g['weight_decay']]
    assert 'backbone.blocks1.0.layer_scale_1' in decayed


@pytest.mark.parametrize('name', sorted(CLS))
def test_cls_sizes_share_the_optimizer(name):
    ours = load('cls', name).optim_wrapper.to_dict()
    root = load('cls', 'moganet_xt_224').optim_wrapper.to_dict()
    assert ours.pop('optimizer').pop('weight_decay') == CLS[name][0]
    root.pop('optimizer').pop('weight_decay')
    assert ours == root


@pytest.mark.parametrize('name', sorted(CLS))
def test_cls_schedule_equals_release(name):
    """The release trains 300 + 10 cooldown epochs; the lr is constant
    within an epoch."""
    cfg = load('cls', name)
    min_lr = CLS[name][1]
    assert cfg.train_cfg.max_epochs == 310
    iters = sampled_iters(310 * CLS_EPOCH, CLS_EPOCH)
    iters = sorted(set(iters) | {e * CLS_EPOCH + CLS_EPOCH // 2
                                 for e in range(310)})
    lrs = lr_at(cfg, [1e-3], iters, CLS_EPOCH)[1e-3]
    expected = [timm_cosine(1e-3, i // CLS_EPOCH, min_lr) for i in iters]
    assert_close(lrs, expected, iters)
