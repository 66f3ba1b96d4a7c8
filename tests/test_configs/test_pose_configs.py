"""The COCO top-down pose suite: every config builds, matches the paper's
params/FLOPs and the release's hyperparameters, and trains/predicts on CPU."""
import copy
import os
import os.path as osp

import pytest
import torch
from conftest import REPO_ROOT
from mmengine.analysis import FlopAnalyzer
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from mogavision.datasets.synthetic import write_coco_keypoints
from mogavision.model_zoo import get_model, models

POSE_DIR = osp.join(REPO_ROOT, 'configs', 'pose')

# short name -> (arch, embed_dims[3], drop path at 256x192, at 384x288)
ARCHS = {
    'xt': ('xtiny', 192, 0.1, 0.1),
    't': ('tiny', 256, 0.15, 0.15),
    's': ('small', 512, 0.2, 0.2),
    'b': ('base', 512, 0.3, 0.4),
}
# input size (w, h) -> heatmap size (w, h)
RESOLUTIONS = {'256x192': ((192, 256), (48, 64)),
               '384x288': ((288, 384), (72, 96))}
CONFIGS = sorted(m.name for m in models('pose'))
TOLERANCE = 0.02
# The paper's 2.2G for T at 256x192 is 2.8% above our 2.14G. No counting
# convention fits it: adding biases, BN and pooling (mmcv 1.x's get_flops)
# gives 2.15G, while the same conventions put XT at 1.84G against the
# paper's 1.8G; T at 384x288 (4.81G vs 4.9G) is within 2%.
FLOPS_TOLERANCE = {'topdown_heatmap_moganet_t_256x192': 0.03}


def load(name):
    return Config.fromfile(osp.join(POSE_DIR, name + '.py'))


def plain(cfg_dict):
    """A config dict without the ``_scope_`` keys that ``mmpose::`` bases
    add."""
    if isinstance(cfg_dict, dict):
        return {k: plain(v) for k, v in cfg_dict.items() if k != '_scope_'}
    return cfg_dict


def split_name(name):
    """``topdown_heatmap_moganet_<short>_<res>`` -> (short, res)."""
    short, res = name[len('topdown_heatmap_moganet_'):].split('_')
    return short, res


def build_model(cfg, init=True):
    """``cfg.model`` without the ImageNet download, weights initialised
    unless ``init`` is False."""
    from mmpose.registry import MODELS
    init_default_scope('mmpose')
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.init_cfg = None
    model = MODELS.build(model_cfg)
    if init:
        model.init_weights()
    return model


class TensorForward(torch.nn.Module):
    """The estimator's tensor-mode forward (backbone + head), for tracing."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, inputs):
        return self.model._forward(inputs)


def test_suite_is_complete():
    names = {osp.splitext(f)[0] for f in os.listdir(POSE_DIR)
             if f.endswith('.py')}
    assert names == set(CONFIGS)


@pytest.mark.parametrize('name', CONFIGS)
def test_hyperparameters(name):
    cfg = load(name)
    short, res = split_name(name)
    arch, channels, dp256, dp384 = ARCHS[short]
    input_size, heatmap_size = RESOLUTIONS[res]
    assert cfg.default_scope == 'mmpose'

    model = cfg.model
    assert model.type == 'TopdownPoseEstimator'
    backbone = model.backbone
    assert backbone.type == 'mogavision.MogaNet'
    assert backbone.arch == arch
    assert tuple(backbone.out_indices) == (3, )
    assert backbone.drop_path_rate == (dp256 if res == '256x192' else dp384)
    assert backbone.init_cfg == dict(
        type='Pretrained', checkpoint=f'mogavision://moganet_{arch}')
    assert 'depth' not in backbone  # the ResNet base's keys are gone

    head = model.head
    assert head.type == 'HeatmapHead'
    assert head.in_channels == channels and head.out_channels == 17
    assert len(head.get('deconv_out_channels', (256, 256, 256))) == 3
    assert plain(head.loss) == dict(type='KeypointMSELoss', use_target_weight=True)
    codec = dict(type='MSRAHeatmap', input_size=input_size,
                 heatmap_size=heatmap_size, sigma=2)
    assert plain(head.decoder) == codec
    assert plain(model.test_cfg) == dict(
        flip_test=True, flip_mode='heatmap', shift_heatmap=True)

    assert plain(cfg.optim_wrapper.optimizer) == dict(
        type='Adam', lr=1e-3, weight_decay=0.)
    assert cfg.auto_scale_lr.base_batch_size == 256
    assert cfg.train_dataloader.batch_size == 32
    assert cfg.train_cfg.max_epochs == 210
    warmup, steps = cfg.param_scheduler
    assert (warmup.type, warmup.end, warmup.start_factor, warmup.by_epoch) == \
        ('LinearLR', 501, 0.001, False)  # the full lr at iteration 500
    assert (steps.type, steps.milestones, steps.gamma, steps.by_epoch) == \
        ('MultiStepLR', [170, 200], 0.1, True)

    train = cfg.train_dataloader.dataset
    assert (train.type, train.data_mode, train.data_root) == \
        ('CocoDataset', 'topdown', 'data/coco/')
    steps_by_type = {t['type']: t for t in train.pipeline}
    assert steps_by_type['RandomHalfBody']['prob'] == 0.3
    # The release's rot_factor=40 / scale_factor=0.5 (mmpose 0.x: N(0, 40)
    # clipped at +-80 deg, scale in [0.5, 1.5]) in mmpose 1.x terms.
    bbox_aug = steps_by_type['RandomBBoxTransform']
    assert bbox_aug['rotate_factor'] == 80
    assert tuple(bbox_aug['scale_factor']) == (0.5, 1.5)
    assert steps_by_type['TopdownAffine']['input_size'] == input_size
    assert plain(steps_by_type['GenerateTarget']['encoder']) == codec

    for split in ('val', 'test'):
        dataset = cfg[f'{split}_dataloader'].dataset
        assert dataset.bbox_file == ('data/coco/person_detection_results/'
                                     'COCO_val2017_detections_AP_H_56_person'
                                     '.json')
        assert dataset.ann_file == 'annotations/person_keypoints_val2017.json'
        affine = [t for t in dataset.pipeline if t['type'] == 'TopdownAffine']
        assert affine[0]['input_size'] == input_size
        assert cfg[f'{split}_evaluator'].type == 'CocoMetric'


@pytest.mark.parametrize('name', CONFIGS)
def test_params_and_flops_match_paper(name):
    cfg = load(name)
    _, res = split_name(name)
    h, w = map(int, res.split('x'))
    model = TensorForward(build_model(cfg, init=False)).eval()
    num_params = sum(p.numel() for p in model.parameters())
    params = num_params / 1e6
    # FlopAnalyzer is what get_model_complexity_info counts with (one trace
    # instead of its two).
    analyzer = FlopAnalyzer(model, (torch.randn(1, 3, h, w), ))
    analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    with torch.no_grad():
        num_flops = analyzer.total()
    flops = num_flops / 1e9
    zoo = get_model(name)
    assert num_params == zoo.metadata['Parameters']
    assert num_flops == zoo.metadata['FLOPs']
    assert params == pytest.approx(zoo.paper_params, rel=TOLERANCE)
    assert flops == pytest.approx(
        zoo.paper_flops, rel=FLOPS_TOLERANCE.get(name, TOLERANCE))


@pytest.fixture(scope='module')
def coco_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('coco'))
    write_coco_keypoints(root, splits={'train2017': 2, 'val2017': 1})
    return root


def batch(cfg, split, root):
    """Two (or all) samples of ``split`` through the config's own pipeline."""
    from mmpose.registry import DATASETS
    init_default_scope('mmpose')
    dataset_cfg = copy.deepcopy(cfg[f'{split}_dataloader'].dataset)
    dataset_cfg.data_root = root
    if 'bbox_file' in dataset_cfg:
        dataset_cfg.bbox_file = osp.join(
            root, 'person_detection_results',
            'COCO_val2017_detections_AP_H_56_person.json')
    dataset = DATASETS.build(dataset_cfg)
    return pseudo_collate([dataset[i] for i in range(min(2, len(dataset)))])


def train_and_predict(cfg, root):
    model = build_model(cfg)
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    model.train()
    losses = model.train_step(batch(cfg, 'train', root), optim_wrapper)
    assert 'loss_kpt' in losses
    assert torch.isfinite(losses['loss']) and losses['loss'] > 0
    model.eval()
    return model, model.test_step(batch(cfg, 'val', root))


def test_xt_loss_and_predict_step(coco_root):
    cfg = load('topdown_heatmap_moganet_xt_256x192')
    _, preds = train_and_predict(cfg, coco_root)
    assert preds
    for pred in preds:
        # flip test with shifted heatmaps -> keypoints in image coordinates
        assert pred.pred_instances.keypoints.shape == (1, 17, 2)
        assert pred.pred_instances.keypoint_scores.shape == (1, 17)
        keypoints = pred.pred_instances.keypoints
        assert (keypoints[..., 0] >= -50).all() and \
            (keypoints[..., 0] <= 192 + 50).all()


def test_user_config_swaps_moganet_into_simcc(coco_root):
    cfg = Config.fromfile(
        osp.join(POSE_DIR, 'examples',
                 'simcc_moganet_xt_wo-deconv_coco-256x192.py'))
    assert cfg.model.head.type == 'SimCCHead'
    assert 'depth' not in cfg.model.backbone
    model, preds = train_and_predict(cfg, coco_root)
    assert type(model.backbone).__name__ == 'MogaNet'
    assert preds[0].pred_instances.keypoints.shape == (1, 17, 2)
