"""The ADE20K segmentation suite: every config builds, matches the paper's
parameter counts and the release's hyperparameters, and trains/predicts."""
import copy
import os.path as osp

import numpy as np
import pytest
import torch
from conftest import REPO_ROOT
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData

from mogavision.engine.runtime import replace_sync_bn
from mogavision.model_zoo import get_model, models

SEG_DIR = osp.join(REPO_ROOT, 'configs', 'seg')

# short name -> (arch, drop path, embed_dims)
ARCHS = {
    'xt': ('xtiny', 0.05, [32, 64, 96, 192]),
    't': ('tiny', 0.1, [32, 64, 128, 256]),
    's': ('small', 0.1, [64, 128, 320, 512]),
    'b': ('base', 0.2, [64, 160, 320, 512]),
    'l': ('large', 0.3, [64, 160, 320, 640]),
    'xl': ('xlarge', 0.4, [96, 192, 480, 960]),
}
CONFIGS = sorted(m.name for m in models('seg'))


def load(name):
    return Config.fromfile(osp.join(SEG_DIR, name + '.py'))


def build_model(cfg, init=True):
    """Build ``cfg.model`` without pretrained weights and with BN for SyncBN
    (no process group on CPU); ``init=False`` skips ``init_weights``, which
    is enough to count parameters."""
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.init_cfg = None
    replace_sync_bn(model_cfg)
    model = MODELS.build(model_cfg)
    if init:
        model.init_weights()
    return model


def _family(name):
    return name.split('_moganet_')


@pytest.mark.parametrize('name', CONFIGS)
def test_hyperparameters(name):
    cfg = load(name)
    family, short = _family(name)
    arch, drop_path, dims = ARCHS[short]
    fpn = family == 'semantic_fpn'
    assert cfg.default_scope == 'mmseg'

    backbone = cfg.model.backbone
    assert backbone.type == 'mogavision.MogaNet'
    assert backbone.arch == arch
    assert backbone.drop_path_rate == drop_path
    assert tuple(backbone.out_indices) == (0, 1, 2, 3)
    assert backbone.init_cfg == dict(
        type='Pretrained', checkpoint=f'mogavision://moganet_{arch}')
    assert 'depth' not in backbone and cfg.model.pretrained is None

    head = cfg.model.decode_head
    assert head.num_classes == 150
    assert head.norm_cfg.type == 'SyncBN'
    if fpn:
        assert cfg.model.neck.type == 'FPN'
        assert cfg.model.neck.in_channels == dims
        assert cfg.model.neck.num_outs == 4
        assert head.type == 'FPNHead' and head.channels == 128
        assert 'auxiliary_head' not in cfg.model
    else:
        assert head.type == 'UPerHead' and head.channels == 512
        assert head.in_channels == dims
        assert tuple(head.pool_scales) == (1, 2, 3, 6)
        aux = cfg.model.auxiliary_head
        assert aux.type == 'FCNHead' and aux.num_classes == 150
        assert aux.in_index == 2 and aux.in_channels == dims[2]
        assert aux.loss_decode.loss_weight == 0.4
        assert aux.norm_cfg.type == 'SyncBN'

    optimizer = cfg.optim_wrapper.optimizer
    assert optimizer.type == 'AdamW'
    assert tuple(optimizer.betas) == (0.9, 0.999)
    assert 'momentum' not in optimizer
    iters, interval = (80000, 4000) if fpn else (160000, 16000)
    if fpn:
        assert (optimizer.lr, optimizer.weight_decay) == (2e-4, 1e-4)
        assert 'paramwise_cfg' not in cfg.optim_wrapper
        assert [dict(s) for s in cfg.param_scheduler] == [
            dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0,
                 end=iters + 1, by_epoch=False)]
        assert cfg.train_dataloader.batch_size == 4
    else:
        assert (optimizer.lr, optimizer.weight_decay) == (1e-4, 0.01)
        assert cfg.optim_wrapper.paramwise_cfg.custom_keys == {
            key: dict(decay_mult=0.) for key in ('layer_scale', 'scale', 'norm')}
        assert [dict(s) for s in cfg.param_scheduler] == [
            dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
                 end=1501),
            dict(type='PolyLR', eta_min=0.0, power=1.0, begin=0,
                 end=iters + 1, by_epoch=False)]
        assert cfg.train_dataloader.batch_size == 2
    assert cfg.train_cfg.max_iters == iters
    assert cfg.train_cfg.val_interval == interval
    assert cfg.default_hooks.checkpoint.interval == interval
    assert cfg.auto_scale_lr.base_batch_size == \
        8 * cfg.train_dataloader.batch_size

    for loader in (cfg.train_dataloader, cfg.val_dataloader,
                   cfg.test_dataloader):
        assert loader.dataset.type == 'ADE20KDataset'
        assert loader.dataset.data_root == 'data/ade/ADEChallengeData2016'
    train_types = [t.type for t in cfg.train_dataloader.dataset.pipeline]
    assert train_types == ['LoadImageFromFile', 'LoadAnnotations',
                           'RandomResize', 'RandomCrop', 'RandomFlip',
                           'PhotoMetricDistortion', 'PackSegInputs']
    assert cfg.train_dataloader.dataset.pipeline[3].cat_max_ratio == 0.75
    for loader in (cfg.val_dataloader, cfg.test_dataloader):
        resize = loader.dataset.pipeline[1]
        assert resize.type == 'mogavision.AlignResize'
        assert tuple(resize.scale) == (2048, 512)
        assert resize.keep_ratio and resize.size_divisor == 32
        annotations = loader.dataset.pipeline[2]
        assert annotations.reduce_zero_label


@pytest.mark.parametrize('name', CONFIGS)
def test_params_match_metafile_and_paper(name):
    """UperNet XL has no paper row: its metafile count guards regressions."""
    model = build_model(load(name), init=False)
    params = sum(p.numel() for p in model.parameters())
    zoo = get_model(name)
    assert params == zoo.metadata['Parameters']
    if zoo.paper_params is not None:
        assert params / 1e6 == pytest.approx(zoo.paper_params, rel=0.01)


def test_no_weight_decay_on_scales_and_norms():
    """The UperNet paramwise rules reach the MogaNet parameters they are
    meant for and leave convolution weights decayed."""
    cfg = load('upernet_moganet_xt')
    model = build_model(cfg)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    decay = {id(p): g['weight_decay'] for g in wrapper.param_groups
             for p in g['params']}
    named = dict(model.named_parameters())
    for key in ('backbone.blocks1.0.layer_scale_1',
                'backbone.blocks3.0.attn.sigma.scale',
                'backbone.blocks3.0.mlp.sigma.scale',
                'backbone.blocks2.0.norm1.weight', 'backbone.norm4.bias'):
        assert decay[id(named[key])] == 0.0, key
    assert decay[id(named['backbone.blocks3.0.attn.proj_1.weight'])] == 0.01
    assert decay[id(named['decode_head.conv_seg.weight'])] == 0.01


def _batch(sizes, num_classes=150, seed=0):
    from mmseg.structures import SegDataSample
    gen = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for h, w in sizes:
        inputs.append(torch.randint(0, 256, (3, h, w), generator=gen,
                                    dtype=torch.uint8))
        label = torch.randint(0, num_classes, (1, h, w), generator=gen)
        label[:, :2] = 255  # some ignored pixels
        sample = SegDataSample(metainfo=dict(img_shape=(h, w),
                                             ori_shape=(h, w)))
        sample.gt_sem_seg = PixelData(data=label)
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


@pytest.mark.parametrize('name', ['semantic_fpn_moganet_xt',
                                  'upernet_moganet_xt'])
def test_loss_and_predict_on_cpu(name):
    cfg = load(name)
    cfg.model.data_preprocessor.size = (56, 56)
    model = build_model(cfg)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    # Batch of two sizes that are not multiples of 32; padded to 56x56.
    losses = model.train_step(_batch([(53, 41), (37, 56)]), wrapper)
    expected = {'decode.loss_ce'} | (
        {'aux.loss_ce'} if 'upernet' in name else set())
    assert expected <= set(losses)
    assert all(torch.isfinite(v) for v in losses.values())

    model.eval()
    sizes = [(45, 83), (37, 50)]
    with torch.no_grad():
        for size in sizes:  # one image per batch: sizes differ
            out = model.test_step(_batch([size]))[0]
            assert tuple(out.pred_sem_seg.shape) == size
            assert tuple(out.seg_logits.data.shape) == (150, *size)
            assert int(out.pred_sem_seg.data.max()) < 150


def test_test_pipeline_maps_prediction_to_original_size(tmp_path):
    """The configs' test pipeline (AlignResize) on odd-sized images: the
    network sees multiples of 32 and the prediction comes back at the
    original size, against a ground truth of that size."""
    from mmseg.registry import DATASETS

    from mogavision.datasets.synthetic import write_ade20k
    root = write_ade20k(str(tmp_path), splits={'validation': 2},
                        image_size=(83, 45))
    cfg = load('semantic_fpn_moganet_xt')
    model = build_model(cfg).eval()
    dataset_cfg = copy.deepcopy(cfg.test_dataloader.dataset)
    dataset_cfg.data_root = root
    dataset_cfg.pipeline[1].scale = (256, 64)
    init_default_scope('mmseg')
    dataset = DATASETS.build(dataset_cfg)
    data = pseudo_collate([dataset[0]])
    sample = data['data_samples'][0]
    # 83x45 -> keep-ratio (256, 64) -> 118x64 -> aligned 128x64
    assert tuple(data['inputs'][0].shape) == (3, 64, 128)
    assert sample.ori_shape == (45, 83)
    with torch.no_grad():
        out = model.test_step(data)[0]
    assert tuple(out.pred_sem_seg.shape) == (45, 83)
    assert tuple(out.gt_sem_seg.shape) == (45, 83)
    gt = out.gt_sem_seg.data.numpy()
    assert set(np.unique(gt)) - {255} <= set(range(150))


def test_example_swaps_moganet_into_deeplabv3plus():
    from mogavision.models import MogaNet
    cfg = Config.fromfile(
        osp.join(SEG_DIR, 'examples', 'deeplabv3plus_moganet_s_ade20k.py'))
    assert cfg.model.decode_head.type == 'DepthwiseSeparableASPPHead'
    cfg.model.data_preprocessor.size = (48, 48)
    model = build_model(cfg)
    assert isinstance(model.backbone, MogaNet)
    assert model.backbone.arch_name == 'small'
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    before = model.backbone.patch_embed1.projection[0].weight.detach().clone()
    losses = model.train_step(_batch([(48, 48), (37, 45)]), wrapper)
    assert {'decode.loss_ce', 'aux.loss_ce'} <= set(losses)
    assert not torch.equal(before, model.backbone.patch_embed1.projection[0].weight)
