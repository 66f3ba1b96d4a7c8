"""The optimizer of the Cascade Mask R-CNN GIoU B row gets the release's
layer-wise lr decay: lr = base_lr * 0.8 ** (14 - layer_id - 1), and no weight
decay on biases and 1-D parameters."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

import mogavision  # noqa: F401
from mogavision.engine.runtime import replace_sync_bn

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO_ROOT, 'configs', 'det',
                  'cascade_mask_rcnn_moganet_b_giou_4conv1f_ms_3x.py')

# parameter -> layer id of the release (num_layers=12, ids 0..13)
LAYER_IDS = {
    'backbone.patch_embed1.projection.0.weight': 0,
    'backbone.patch_embed1.projection.1.bias': 0,
    'backbone.blocks1.0.attn.proj_1.weight': 2,
    'backbone.blocks1.3.layer_scale_2': 2,
    'backbone.patch_embed2.projection.weight': 3,
    'backbone.blocks2.5.mlp.fc1.weight': 3,
    'backbone.patch_embed3.norm.weight': 4,
    'backbone.blocks3.0.attn.gate.weight': 3,
    'backbone.blocks3.5.attn.value.DW_conv2.weight': 5,
    'backbone.blocks3.21.mlp.fc2.weight': 11,  # min(3 + 21 // 2, 11)
    'backbone.patch_embed4.projection.weight': 12,
    'backbone.blocks4.2.attn.sigma.scale': 12,
    'backbone.norm4.weight': 13,
    'neck.lateral_convs.0.conv.weight': 13,
    'neck.fpn_convs.3.conv.bias': 13,
    'roi_head.bbox_head.2.fc_cls.weight': 13,
}


@pytest.fixture(scope='module')
def groups_by_name():
    cfg = Config.fromfile(CONFIG)
    cfg.model.backbone.init_cfg = None
    replace_sync_bn(cfg.model)
    init_default_scope('mmdet')
    from mmdet.registry import MODELS
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = MODELS.build(cfg.model)
    finally:
        torch.set_num_threads(threads)
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    names = {id(p): n for n, p in model.named_parameters()}
    groups = {}
    for group in optim_wrapper.optimizer.param_groups:
        for param in group['params']:
            groups[names[id(param)]] = group
    assert len(groups) == len(names), 'every parameter is optimized'
    return groups, cfg.optim_wrapper.optimizer.lr


@pytest.mark.parametrize('name', sorted(LAYER_IDS))
def test_lr_follows_release_layer_ids(groups_by_name, name):
    groups, base_lr = groups_by_name
    assert base_lr == 1e-4
    expected = base_lr * 0.8**(14 - LAYER_IDS[name] - 1)
    assert groups[name]['lr'] == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize('name,decay', [
    ('backbone.patch_embed1.projection.0.bias', 0.),
    ('backbone.blocks3.5.norm1.weight', 0.),
    ('neck.fpn_convs.0.conv.bias', 0.),
    ('roi_head.bbox_head.0.shared_convs.0.bn.weight', 0.),
    ('backbone.blocks3.5.attn.proj_1.weight', 0.05),
    # 4-D like a conv weight: the release decays it under layer decay.
    ('backbone.blocks1.0.layer_scale_1', 0.05),
    ('roi_head.bbox_head.0.shared_fcs.0.weight', 0.05),
])
def test_no_weight_decay_on_biases_and_1d_params(groups_by_name, name,
                                                 decay):
    groups, _ = groups_by_name
    assert groups[name]['weight_decay'] == decay
