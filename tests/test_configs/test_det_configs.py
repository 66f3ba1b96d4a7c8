"""Detection configs: every COCO row of the paper builds with the paper's
parameter count and the release's hyperparameters, and one config per family
runs a loss step and a test step on CPU."""
import glob
import os.path as osp
from typing import NamedTuple

import numpy as np
import pytest
import torch
from conftest import REPO_ROOT
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.structures import InstanceData

import mogavision  # noqa: F401
from mogavision.config import build_model
from mogavision.model_zoo import get_model

DET_DIR = osp.join(REPO_ROOT, 'configs', 'det')
SWAP_CONFIG = osp.join(DET_DIR, 'examples', 'faster_rcnn_moganet_xt_swap.py')

EMBED_DIMS = dict(
    xtiny=[32, 64, 96, 192], tiny=[32, 64, 128, 256],
    small=[64, 128, 320, 512], base=[64, 160, 320, 512],
    large=[64, 160, 320, 640])


class Row(NamedTuple):
    """One COCO row of the paper and the release's settings for it."""
    arch: str
    lr: float
    drop_path: float
    warmup: int
    epochs: int


ROWS = {
    'retinanet_moganet_xt': Row('xtiny', 1e-4, .05, 500, 12),
    'retinanet_moganet_t': Row('tiny', 1e-4, .1, 500, 12),
    'retinanet_moganet_s': Row('small', 1e-4, .1, 500, 12),
    'retinanet_moganet_b': Row('base', 1e-4, .2, 500, 12),
    'retinanet_moganet_l': Row('large', 1e-4, .3, 500, 12),
    'mask_rcnn_moganet_xt': Row('xtiny', 2e-4, .05, 500, 12),
    'mask_rcnn_moganet_t': Row('tiny', 2e-4, .1, 500, 12),
    'mask_rcnn_moganet_s': Row('small', 2e-4, .1, 500, 12),
    'mask_rcnn_moganet_b': Row('base', 1e-4, .2, 500, 12),
    'mask_rcnn_moganet_l': Row('large', 1e-4, .3, 500, 12),
    'mask_rcnn_moganet_t_ms_3x': Row('tiny', 2e-4, .1, 500, 36),
    'mask_rcnn_moganet_s_ms_3x': Row('small', 2e-4, .1, 500, 36),
    'mask_rcnn_moganet_b_ms_3x': Row('base', 2e-4, .3, 500, 36),
    'mask_rcnn_moganet_l_ms_3x': Row('large', 2e-4, .3, 500, 36),
    'cascade_mask_rcnn_moganet_s_ms_3x': Row('small', 2e-4, .1, 500,
                                             36),
    'cascade_mask_rcnn_moganet_s_giou_4conv1f_ms_3x': Row(
        'small', 2e-4, .1, 1000, 36),
    'cascade_mask_rcnn_moganet_b_giou_4conv1f_ms_3x': Row(
        'base', 1e-4, .2, 1000, 36),
    'cascade_mask_rcnn_moganet_l_giou_4conv1f_ms_3x': Row(
        'large', 1e-4, .3, 1000, 36),
}
LAYER_DECAY_ROWS = {'cascade_mask_rcnn_moganet_b_giou_4conv1f_ms_3x',
                    'cascade_mask_rcnn_moganet_l_giou_4conv1f_ms_3x'}
# One config per family: these run a loss step and a test step on CPU.
SMOKE_CONFIGS = ['retinanet_moganet_xt', 'mask_rcnn_moganet_xt',
                 'mask_rcnn_moganet_t_ms_3x',
                 'cascade_mask_rcnn_moganet_s_ms_3x',
                 'cascade_mask_rcnn_moganet_s_giou_4conv1f_ms_3x']


pytestmark = pytest.mark.usefixtures('single_thread')  # conftest


def load(name: str) -> Config:
    return Config.fromfile(osp.join(DET_DIR, name + '.py'))


# Configs that are not rows of the paper's table.
NOT_PAPER_ROWS = {'mask_rcnn_moganet_xt_synthetic'}  # the `make demo` example


def test_every_row_has_a_config():
    found = {osp.splitext(osp.basename(p))[0]
             for p in glob.glob(osp.join(DET_DIR, '*.py'))}
    assert found - NOT_PAPER_ROWS == set(ROWS)


@pytest.mark.parametrize('name', sorted(ROWS))
def test_release_hyperparameters(name):
    row, cfg = ROWS[name], load(name)
    backbone = cfg.model.backbone
    assert backbone.type == 'mogavision.MogaNet'
    assert backbone.arch == row.arch
    assert backbone.out_indices == (0, 1, 2, 3)
    assert backbone.drop_path_rate == row.drop_path
    assert backbone.init_cfg == dict(
        type='Pretrained', checkpoint=f'mogavision://moganet_{row.arch}')
    assert cfg.model.neck.in_channels == EMBED_DIMS[row.arch]

    optimizer = cfg.optim_wrapper.optimizer
    assert optimizer == dict(type='AdamW', lr=row.lr, betas=(0.9, 0.999),
                             weight_decay=0.05)
    if name in LAYER_DECAY_ROWS:
        assert cfg.optim_wrapper.constructor == \
            'mogavision.LayerDecayOptimWrapperConstructor'
        assert cfg.optim_wrapper.paramwise_cfg == dict(decay_rate=0.8,
                                                       num_layers=12)
    else:
        assert 'constructor' not in cfg.optim_wrapper
        assert cfg.optim_wrapper.paramwise_cfg.custom_keys == {
            key: dict(decay_mult=0.) for key in ('layer_scale', 'scale',
                                                 'norm')}

    warmup, steps = cfg.param_scheduler
    # LinearLR reaches the full lr at end - 1 (the release's at warmup_iters)
    assert (warmup.type, warmup.by_epoch, warmup.start_factor, warmup.end) \
        == ('LinearLR', False, 0.001, row.warmup + 1)
    milestones = [8, 11] if row.epochs == 12 else [27, 33]
    assert (steps.type, steps.end, steps.milestones, steps.gamma) == \
        ('MultiStepLR', row.epochs, milestones, 0.1)
    assert cfg.train_cfg.max_epochs == row.epochs
    assert cfg.train_dataloader.batch_size == 2
    assert cfg.auto_scale_lr == dict(enable=False, base_batch_size=16)
    for split in ('train', 'val', 'test'):
        assert cfg[f'{split}_dataloader'].dataset.data_root == 'data/coco/'


@pytest.mark.parametrize('name', [n for n in ROWS if 'retinanet' in n])
def test_retinanet_fpn(name):
    neck = load(name).model.neck
    assert (neck.start_level, neck.add_extra_convs, neck.num_outs) == \
        (1, 'on_input', 5)


@pytest.mark.parametrize('name', [n for n in ROWS if n.endswith('ms_3x')])
def test_ms_3x_rows_use_detr_style_augmentation(name):
    cfg = load(name)
    pipeline = cfg.train_dataloader.dataset.pipeline
    assert pipeline == cfg.train_pipeline
    choice = next(t for t in pipeline if t.type == 'RandomChoice')
    plain, crop = choice.transforms
    scales = [(s, 1333) for s in range(480, 801, 32)]
    assert [t.type for t in plain] == ['RandomChoiceResize']
    assert plain[0].scales == scales
    assert [t.type for t in crop] == ['RandomChoiceResize', 'RandomCrop',
                                      'RandomChoiceResize']
    assert crop[0].scales == [(400, 1333), (500, 1333), (600, 1333)]
    assert (crop[1].crop_type, crop[1].crop_size) == ('absolute_range',
                                                      (384, 600))
    assert crop[2].scales == scales


@pytest.mark.parametrize('name', [n for n in ROWS if 'cascade' in n])
def test_cascade_bbox_heads(name):
    heads = load(name).model.roi_head.bbox_head
    assert len(heads) == 3
    if 'giou_4conv1f' in name:
        for head in heads:
            assert head.type == 'ConvFCBBoxHead'
            assert (head.num_shared_convs, head.num_shared_fcs) == (4, 1)
            assert head.norm_cfg.type == 'SyncBN'
            assert head.loss_bbox == dict(type='GIoULoss', loss_weight=10.0)
            assert head.reg_decoded_bbox and not head.reg_class_agnostic
        assert [h.bbox_coder.target_stds[0] for h in heads] == \
            [0.1, 0.05, 0.033]
    else:
        for head in heads:
            assert head.type == 'Shared2FCBBoxHead'
            assert head.loss_bbox.type == 'SmoothL1Loss'
            assert head.reg_class_agnostic


@pytest.mark.parametrize('name', sorted(ROWS))
def test_params_match_metafile_and_paper(name):
    model = build_model(load(name))
    params = sum(p.numel() for p in model.parameters())
    zoo = get_model(name)
    assert params == zoo.metadata['Parameters']
    assert params / 1e6 == pytest.approx(zoo.paper_params, rel=0.01)


def test_no_weight_decay_on_norm_and_scales():
    cfg = load('mask_rcnn_moganet_xt')
    model = build_model(cfg)
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    decay = {}
    names = {id(p): n for n, p in model.named_parameters()}
    for group in optim_wrapper.optimizer.param_groups:
        for p in group['params']:
            decay[names[id(p)]] = group['weight_decay']
    assert decay['backbone.blocks1.0.layer_scale_1'] == 0
    assert decay['backbone.blocks1.0.attn.sigma.scale'] == 0
    assert decay['backbone.blocks1.0.norm1.weight'] == 0
    assert decay['backbone.norm4.bias'] == 0
    assert decay['backbone.blocks1.0.attn.proj_1.weight'] == 0.05
    assert decay['neck.fpn_convs.0.conv.weight'] == 0.05


def _batch(with_mask: bool, size=128, seed=0):
    """Two images with two boxes (and masks) each, as a dataloader gives
    them to the data preprocessor."""
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    rng = np.random.default_rng(seed)
    inputs, samples = [], []
    for _ in range(2):
        inputs.append(torch.from_numpy(
            rng.integers(0, 255, (3, size, size), dtype=np.uint8)))
        boxes = torch.tensor([[10., 20., 70., 90.], [50., 40., 120., 110.]])
        gt = InstanceData(bboxes=boxes, labels=torch.tensor([0, 2]))
        if with_mask:
            masks = np.zeros((2, size, size), np.uint8)
            for k, (x0, y0, x1, y1) in enumerate(boxes.int().tolist()):
                masks[k, y0:y1, x0:x1] = 1
            gt.masks = BitmapMasks(masks, size, size)
        sample = DetDataSample(metainfo=dict(
            img_shape=(size, size), ori_shape=(size, size),
            scale_factor=(1., 1.)))
        sample.gt_instances = gt
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def _shrink_rois(cfg: Config):
    """Fewer RoIs per image (64 sampled in training, 64 proposals in
    testing): the 7x7 ConvFC heads dominate CPU time at 512/1000 RoIs."""
    rcnn = cfg.model.train_cfg.get('rcnn')
    for stage in (rcnn if isinstance(rcnn, list) else [rcnn]):
        if stage is not None:
            stage.sampler.num = 64
    if cfg.model.test_cfg.get('rpn') is not None:
        cfg.model.test_cfg.rpn.max_per_img = 64


@pytest.mark.parametrize('name', SMOKE_CONFIGS)
def test_loss_and_test_step(name):
    torch.manual_seed(0)
    cfg = load(name)
    _shrink_rois(cfg)
    model = build_model(cfg)
    with_mask = 'mask' in name
    batch = _batch(with_mask)

    model.train()
    data = model.data_preprocessor(batch, True)
    losses = model(**data, mode='loss')
    loss, log_vars = model.parse_losses(losses)
    assert torch.isfinite(loss) and loss > 0
    assert any(k.endswith('loss_bbox') for k in log_vars)
    if with_mask:
        assert any(k.endswith('loss_mask') for k in log_vars)
    loss.backward()
    stem = model.backbone.patch_embed1.projection[0].weight
    assert stem.grad is not None and stem.grad.abs().sum() > 0

    model.eval()
    with torch.no_grad():
        results = model.test_step(_batch(with_mask, seed=1))
    assert len(results) == 2
    for result in results:
        pred = result.pred_instances
        assert pred.bboxes.shape == (len(pred), 4)
        assert pred.scores.shape == pred.labels.shape == (len(pred), )
        if with_mask:
            assert pred.masks.shape == (len(pred), 128, 128)


def test_swap_into_existing_mmdet_config_trains_one_iteration():
    """A five-line user config on mmdet's Faster R-CNN: MogaNet in, one
    optimizer step changes the backbone."""
    with open(SWAP_CONFIG) as f:
        assert len([line for line in f if line.strip()]) <= 7
    cfg = Config.fromfile(SWAP_CONFIG)
    assert cfg.model.type == 'FasterRCNN'
    model = build_model(cfg)
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    stem = model.backbone.patch_embed1.projection[0].weight
    before = stem.detach().clone()
    model.train()
    log_vars = model.train_step(_batch(with_mask=False), optim_wrapper)
    assert torch.isfinite(log_vars['loss'])
    assert not torch.equal(before, stem.detach())
