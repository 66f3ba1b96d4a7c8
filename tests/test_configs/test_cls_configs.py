"""configs/cls: every MogaNet ImageNet config builds, has the reference
parameter count, and holds the release's training recipe."""
import os.path as osp

import pytest
import torch
from conftest import REPO_ROOT
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mogavision.models  # noqa: F401
from mogavision.model_zoo import get_model

CONFIG_DIR = osp.join(REPO_ROOT, 'configs', 'cls')

#: Parameters incl. the 1000-class head (reference table, fvcore on the
#: release's code).
PARAMS = {'xt': 2_956_066, 't': 5_197_332, 's': 25_335_675,
          'b': 43_720_475, 'l': 82_480_978, 'xl': 180_991_924}
#: variant -> (arch, drop path, weight decay, batch/GPU, RandAugment
#: magnitude, mixup alpha, EMA, cosine eta_min)
RECIPE = {
    'xt': ('xtiny', .05, .03, 128, 7, .1, False, 1e-6),
    't': ('tiny', .1, .04, 128, 7, .1, False, 1e-6),
    's': ('small', .1, .05, 128, 9, .8, True, 1e-5),
    'b': ('base', .2, .05, 128, 9, .8, True, 1e-5),
    'l': ('large', .3, .05, 128, 9, .8, True, 1e-5),
    'xl': ('xlarge', .4, .05, 64, 9, .8, True, 1e-5),
}
CONFIGS = [(v, 224) for v in PARAMS] + [('xt', 256), ('t', 256)]


def load(variant, size):
    return Config.fromfile(osp.join(CONFIG_DIR, f'moganet_{variant}_{size}.py'))


def build_model(cfg):
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(cfg.model)


def transform(pipeline, name):
    return next(t for t in pipeline if t['type'] == name)


@pytest.mark.parametrize('variant,size', CONFIGS)
def test_recipe(variant, size):
    cfg = load(variant, size)
    arch, drop_path, wd, batch, magnitude, mixup, ema, eta_min = \
        RECIPE[variant]
    assert cfg.default_scope == 'mmpretrain'
    backbone = cfg.model.backbone
    assert backbone.type == 'mogavision.MogaNet'
    assert (backbone.arch, backbone.drop_path_rate) == (arch, drop_path)
    assert tuple(backbone.out_indices) == (3, )
    assert backbone.get('init_cfg') is None
    assert cfg.model.neck.type == 'GlobalAveragePooling'
    assert cfg.model.head.num_classes == 1000
    assert cfg.model.head.loss == dict(type='LabelSmoothLoss',
                                       label_smooth_val=0.1, mode='original')
    assert [a['alpha'] for a in cfg.model.train_cfg.augments] == [mixup, 1.0]

    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.weight_decay) == \
        ('AdamW', 1e-3, wd)
    assert cfg.auto_scale_lr.base_batch_size == 1024
    scheduler = cfg.param_scheduler
    assert (scheduler.type, scheduler.t_initial, scheduler.warmup_t,
            scheduler.warmup_lr_init, scheduler.lr_min) == \
        ('mogavision.TimmCosineLR', 300, 5, 1e-5, eta_min)
    assert cfg.train_cfg.max_epochs == 310  # timm's 10 cooldown epochs
    assert cfg.train_dataloader.batch_size == batch
    hooks = [h['type'] for h in cfg.get('custom_hooks', [])]
    assert hooks == (['EMAHook'] if ema else [])
    if ema:
        assert cfg.custom_hooks[0].momentum == 1e-4

    train = cfg.train_dataloader.dataset
    assert (train.type, train.data_root, train.split) == \
        ('ImageNet', 'data/imagenet', 'train')
    crop = transform(train.pipeline, 'RandomResizedCrop')
    assert (crop.scale, crop.interpolation) == (size, 'bicubic')
    assert transform(train.pipeline, 'RandAugment').magnitude_level == \
        magnitude
    assert transform(train.pipeline, 'RandomErasing').erase_prob == 0.25
    for loader in (cfg.val_dataloader, cfg.test_dataloader):
        assert loader.dataset.split == 'val'
        resize = transform(loader.dataset.pipeline, 'ResizeEdge')
        assert (resize.scale, resize.edge, resize.interpolation) == \
            (round(size / 0.9), 'short', 'bicubic')
        assert transform(loader.dataset.pipeline,
                         'CenterCrop').crop_size == size


@pytest.mark.parametrize('variant', list(PARAMS))
def test_builds_with_reference_params(variant):
    cfg = load(variant, 224)
    model = build_model(cfg)
    assert model.backbone.init_cfg is None
    params = sum(p.numel() for p in model.parameters())
    assert params == PARAMS[variant]
    assert params == get_model(f'moganet_{variant}_224').metadata[
        'Parameters']
    assert cfg.model.head.in_channels == model.backbone.embed_dims[3]


def test_xt_forward_and_macs():
    from mmengine.analysis import get_model_complexity_info
    model = build_model(load('xt', 224)).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64), mode='tensor').shape == \
            (1, 1000)
    info = get_model_complexity_info(model, input_shape=(3, 224, 224),
                                     show_table=False, show_arch=False)
    assert round(info['flops'] / 1e9, 3) == 0.787  # reference table


def test_no_weight_decay_on_norms_and_biases():
    from mmengine.optim import build_optim_wrapper
    cfg = load('xt', 224)
    model = build_model(cfg)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    decay = {}
    names = {id(p): n for n, p in model.named_parameters()}
    for group in optim_wrapper.optimizer.param_groups:
        for param in group['params']:
            decay[names[id(param)]] = group['weight_decay']
    assert len(decay) == len(names)
    for name in ('backbone.blocks1.0.norm1.weight', 'backbone.norm4.bias',
                 'backbone.patch_embed1.projection.1.weight',
                 'backbone.blocks1.0.attn.proj_1.bias', 'head.fc.bias'):
        assert decay[name] == 0, name
    # timm's rule (the release): the (1, C, 1, 1) scales are decayed.
    for name in ('backbone.blocks1.0.layer_scale_1',
                 'backbone.blocks3.4.layer_scale_2',
                 'backbone.blocks2.0.attn.sigma.scale',
                 'backbone.blocks2.0.mlp.sigma.scale',
                 'backbone.blocks1.0.attn.proj_1.weight',
                 'backbone.blocks3.0.attn.value.DW_conv2.weight',
                 'backbone.patch_embed1.projection.0.weight',
                 'head.fc.weight'):
        assert decay[name] == 0.03, name
