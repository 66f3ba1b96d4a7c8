"""Detection export families: RetinaNet, Mask R-CNN and Cascade Mask R-CNN
(GIoU 4conv1fc) exported whole give mmdet's predictions on ONNX Runtime and
OpenVINO; the NMS and RoIAlign pieces equal mmcv's."""
import copy
import os.path as osp
import re

import numpy as np
import pytest
import torch
from conftest import LEGACY_IMAGES as IMAGES
from conftest import REPO_ROOT
from mmengine.config import Config

import mogavision  # noqa: F401
from mogavision.config import build_model
from mogavision.deploy import family_for
from mogavision.deploy.detection import (CUSTOM_TRANSLATION_TABLE,
                                         match_detections,
                                         merge_match_stats, nms_keep,
                                         roi_align_levels)

DET_DIR = osp.join(REPO_ROOT, 'configs', 'det')
CASES = {
    'retinanet': 'retinanet_moganet_xt.py',
    'mask_rcnn': 'mask_rcnn_moganet_xt.py',
    'cascade_giou': 'cascade_mask_rcnn_moganet_s_giou_4conv1f_ms_3x.py',
}
# Multiplies the rule's weight of the keys matching these patterns so that
# scores and boxes are neither saturated nor degenerate (the first five are
# the legacy reference rule's gains).
HEAD_GAIN = {
    r'bbox_head\.retina_cls\.weight$': 0.12,
    r'bbox_head\.retina_reg\.weight$': 0.15,
    r'rpn_head\.rpn_cls\.weight$': 0.3,
    r'rpn_head\.rpn_reg\.weight$': 0.15,
    r'fc_reg\.weight$': 0.3,
    # some classes above score_thr on the test photos (the cascade
    # averages three stages' logits)
    r'roi_head\.bbox_head\.fc_cls\.weight$': 2.,
    r'roi_head\.bbox_head\.\d\.fc_cls\.weight$': 8.,
}
# two images of different aspect ratios: different img_shape and padding
TEST_SCALE = (320, 256)


def rule_weights(model: torch.nn.Module):
    """Deterministic, information-carrying weights (the rule of the legacy
    fidelity reference): entry k of n elements is built from
    sin(0.7311 i + 1.618 k + 2 pi (i^2 mod 997) / 997), scaled per kind."""
    state = model.state_dict()
    for k, (key, value) in enumerate(state.items()):
        name = key.rsplit('.', 1)[-1]
        if name == 'num_batches_tracked':
            continue
        i = np.arange(value.numel(), dtype=np.int64)
        base = np.sin(i * 0.7311 + k * 1.618 +
                      (2 * np.pi / 997) * ((i * i) % 997))
        if name.startswith('layer_scale'):
            v = 0.1 + 0.05 * base
        elif key.endswith('sigma.scale'):
            v = 0.3 + 0.2 * base
        elif name == 'running_mean':
            v = 0.1 * base
        elif name == 'running_var':
            v = 1.0 + 0.5 * np.abs(base)
        elif value.dim() > 1:
            v = base * 1.7 / np.sqrt(value.numel() / value.shape[0])
        elif name == 'weight':
            v = 1.0 + 0.2 * base
        else:
            v = 0.1 * base
        for pattern, gain in HEAD_GAIN.items():
            if re.search(pattern, key):
                v = v * gain
        state[key] = torch.from_numpy(v.reshape(value.shape).astype(
            np.float32))
    model.load_state_dict(state)
    return model


def slim(cfg: Config) -> Config:
    """The config with a toy MogaNet and 32-channel heads: every module
    type, stage, class count and test_cfg of the real config, a fraction
    of the export and run time."""
    model = cfg.model
    model.backbone.update(init_cfg=None, arch=dict(
        embed_dims=[16, 16, 24, 32], depths=[1, 1, 1, 1],
        ffn_ratios=[4, 4, 4, 4]))
    model.neck.update(in_channels=[16, 16, 24, 32], out_channels=32)
    for name in ('bbox_head', 'rpn_head'):
        if name in model:
            model[name].update(in_channels=32, feat_channels=32)
    roi_head = model.get('roi_head')
    if roi_head:
        for key in ('bbox_roi_extractor', 'mask_roi_extractor'):
            if roi_head.get(key):
                roi_head[key].out_channels = 32
        heads = roi_head.bbox_head
        for head in heads if isinstance(heads, list) else [heads]:
            head.update(in_channels=32, fc_out_channels=64)
            if 'conv_out_channels' in head:
                head.conv_out_channels = 32
        roi_head.mask_head.update(in_channels=32, conv_out_channels=32)
    return cfg


def load_cfg(case: str) -> Config:
    return slim(Config.fromfile(osp.join(DET_DIR, CASES[case])))


def images():
    """Two real photos (tests/data/legacy/images), landscape and portrait:
    different resized shapes, so the batch is padded."""
    import mmcv
    return [mmcv.imread(osp.join(IMAGES, name))
            for name in ('chelsea.png', 'grace_hopper.png')]


def runtime(backend: str, path: str):
    """Run an ONNX file on a backend: ``fn(feeds) -> list of arrays``."""
    if backend == 'onnxruntime':
        import onnxruntime as ort
        session = ort.InferenceSession(path,
                                       providers=['CPUExecutionProvider'])
        return lambda feeds: session.run(None, feeds)
    import openvino as ov
    compiled = ov.Core().compile_model(
        path, 'CPU', {'INFERENCE_PRECISION_HINT': 'f32'})
    return lambda feeds: [np.array(v) for v in compiled(feeds).values()]


def as_numpy(instances) -> dict:
    out = {k: getattr(instances, k).numpy()
           for k in ('bboxes', 'scores', 'labels')}
    if 'masks' in instances:
        out['masks'] = instances.masks.numpy()
    return out


# ------------------------------------------------------------- pieces
pytestmark = pytest.mark.usefixtures('single_thread')  # conftest


def test_roi_align_equals_mmcv_on_runtimes(tmp_path):
    """ONNX RoiAlign (half_pixel) computes what mmcv's RoIAlign with
    aligned=True computes, adaptive sampling (sampling_ratio=0) included;
    empty RoIs give 0 on OpenVINO too."""
    from mmcv.ops import RoIAlign
    from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor
    extractors = [SingleRoIExtractor(
        roi_layer=dict(type='RoIAlign', output_size=7,
                       sampling_ratio=ratio),
        out_channels=8, featmap_strides=[4, 8, 16, 32]).eval()
        for ratio in (0, 2)]
    gen = torch.Generator().manual_seed(0)
    feats = [torch.randn(2, 8, 96 // s, 128 // s, generator=gen)
             for s in (1, 2, 4, 8)]
    count = 200
    xy = torch.rand(count, 2, generator=gen) * 560 - 40
    wh = torch.rand(count, 2, generator=gen) ** 2 * 500
    rois = torch.cat([torch.randint(0, 2, (count, 1), generator=gen).float(),
                      xy, xy + wh], 1)
    rois[:4, 3] = rois[:4, 1]  # zero width
    rois[4:8, 3:] = rois[4:8, 1:3] + 0.2  # tiny
    expected = [e(feats, rois) for e in extractors]
    assert len(set(extractors[0].map_roi_levels(rois, 4).tolist())) == 4
    for layer in extractors[0].roi_layers:
        assert type(layer) is RoIAlign and layer.aligned

    class Graph(torch.nn.Module):

        def forward(self, f0, f1, f2, f3, rois):
            return tuple(roi_align_levels(e, [f0, f1, f2, f3], rois)
                         for e in extractors)

    got = Graph()(*feats, rois)
    for g, e in zip(got, expected):  # torchvision's kernel == mmcv's
        assert torch.equal(g, e)
    path = str(tmp_path / 'roi_align.onnx')
    names = ['f0', 'f1', 'f2', 'f3', 'rois']
    torch.onnx.export(Graph().eval(), (*feats, rois), path, dynamo=True,
                      input_names=names, opset_version=18,
                      dynamic_shapes=({}, {}, {}, {},
                                      {0: torch.export.Dim('rois')}))
    import onnx
    modes = {a.s for n in onnx.load(path).graph.node if n.op_type ==
             'RoiAlign' for a in n.attribute
             if a.name == 'coordinate_transformation_mode'}
    assert modes == {b'half_pixel'}
    feeds = dict(zip(names, [t.numpy() for t in (*feats, rois)]))
    for backend in ('onnxruntime', 'openvino'):
        for out, e in zip(runtime(backend, path)(feeds), expected):
            assert np.isfinite(out).all(), backend
            np.testing.assert_allclose(out, e.numpy(), rtol=0, atol=2e-5,
                                       err_msg=backend)


def random_boxes(gen, batch, count, classes):
    xy = torch.rand(batch, count, 2, generator=gen) * 300
    wh = torch.rand(batch, count, 2, generator=gen) * 80 + 1
    boxes = torch.cat([xy, xy + wh], -1)
    scores = torch.rand(batch, count, generator=gen)
    labels = torch.randint(0, classes, (batch, count), generator=gen)
    return boxes, scores, labels


def test_nms_keep_equals_mmcv_batched_nms(tmp_path):
    """Class-offset NMS over the valid candidates keeps what mmcv's
    batched_nms keeps, image by image, in PyTorch, ONNX Runtime and
    OpenVINO."""
    from mmcv.ops import batched_nms
    gen = torch.Generator().manual_seed(0)
    boxes, scores, labels = random_boxes(gen, 3, 600, 5)
    valid = scores > 0.3
    valid[2] = False  # an image without candidates

    class Graph(torch.nn.Module):

        def forward(self, boxes, scores, valid, labels):
            return nms_keep(boxes, scores, valid, labels, 0.5)

    keep = Graph()(boxes, scores, valid, labels)
    for image in range(3):
        inds = torch.nonzero(valid[image])[:, 0]
        expected = torch.zeros_like(valid[image])
        if len(inds):
            _, kept = batched_nms(boxes[image, inds], scores[image, inds],
                                  labels[image, inds],
                                  dict(type='nms', iou_threshold=0.5))
            expected[inds[kept]] = True
        assert torch.equal(keep[image], expected)
    assert 50 < keep.sum() < valid.sum()
    path = str(tmp_path / 'nms.onnx')
    names = ['boxes', 'scores', 'valid', 'labels']
    batch, count = torch.export.Dim('batch'), torch.export.Dim('count')
    torch.onnx.export(Graph().eval(), (boxes, scores, valid, labels), path,
                      dynamo=True, input_names=names, opset_version=18,
                      custom_translation_table=CUSTOM_TRANSLATION_TABLE,
                      dynamic_shapes=tuple({0: batch, 1: count}
                                           for _ in names))
    feeds = dict(zip(names, [t.numpy() for t in (boxes, scores, valid,
                                                 labels)]))
    for backend in ('onnxruntime', 'openvino'):
        (out, ) = runtime(backend, path)(feeds)
        np.testing.assert_array_equal(out, keep.numpy(), err_msg=backend)


# ------------------------------------------------------------ families
def test_family_choice_and_outputs():
    assert type(family_for(load_cfg('retinanet'))).__name__ == \
        'RetinaNetFamily'
    mask_rcnn = family_for(load_cfg('mask_rcnn'))
    assert mask_rcnn.output_names == ['dets', 'labels', 'masks']
    assert mask_rcnn.input_names == ['input', 'img_shape']
    faster = Config.fromfile(osp.join(DET_DIR, 'examples',
                                      'faster_rcnn_moganet_xt_swap.py'))
    assert family_for(faster).output_names == ['dets', 'labels']
    cascade = family_for(load_cfg('cascade_giou'))
    assert cascade.name == 'cascade_mask_rcnn'
    meta = cascade.meta(None, (320, 320))
    assert cascade.check_meta(meta) == []
    cfg = load_cfg('cascade_giou')
    cfg.model.test_cfg.rcnn.score_thr = 0.001
    problems = family_for(cfg).check_meta(meta)
    assert len(problems) == 1 and 'rcnn.score_thr: exported 0.05' in \
        problems[0]


def collated(arrays, scale=TEST_SCALE):
    """A test pipeline's batch (resize at ``scale``, keep ratio) before the
    data preprocessor, as a Runner's test loop gives it to ``test_step``."""
    from mmcv.transforms import Compose
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DefaultScope
    steps = [dict(type='mmdet.LoadImageFromNDArray'),
             dict(type='Resize', scale=scale, keep_ratio=True),
             dict(type='PackDetInputs',
                  meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                             'scale_factor'))]
    with DefaultScope.overwrite_default_scope('mmdet'):
        pipeline = Compose(steps)
        return pseudo_collate([pipeline(dict(img=a, img_id=i))
                               for i, a in enumerate(arrays)])


def assert_same_predictions(expected, actual, family, what):
    score_thr, max_per_img, _ = family.test_cfg
    stats = [match_detections(as_numpy(e.pred_instances),
                              as_numpy(a.pred_instances), score_thr,
                              max_per_img)
             for e, a in zip(expected, actual)]
    merged = merge_match_stats(stats)
    assert merged['unmatched'] == 0, (what, stats)
    assert merged['box'] <= 0.01 and merged['score'] <= 1e-4, (what, stats)
    # one pixel flips at the 0.5 threshold where a probability is ~0.5
    assert merged['mask_iou'] >= 0.99 or merged['mask_pixels'] <= 2, \
        (what, stats)
    # the comparison has something to compare
    assert all(s['matched'] >= 20 for s in stats), (what, stats)
    return merged


@pytest.mark.parametrize('case', list(CASES))
def test_graph_predicts_like_mmdet(case):
    """The export module in PyTorch, postprocessed by the family, gives
    mmdet's predictions (boxes, scores, labels, pasted masks) exactly."""
    cfg = load_cfg(case)
    model = rule_weights(build_model(cfg))  # in eval mode
    family = family_for(cfg)
    data = model.data_preprocessor(collated(images()), False)
    inputs, samples = data['inputs'], data['data_samples']
    img_shape = torch.tensor([s.img_shape for s in samples])
    with torch.no_grad():
        expected = model.predict(inputs, copy.deepcopy(samples))
        outputs = family.export_module(model, inputs.shape[-2:])(inputs,
                                                                 img_shape)
    actual = family.to_data_samples(
        {n: o.numpy() for n, o in zip(family.output_names, outputs)},
        copy.deepcopy(samples))
    merged = assert_same_predictions(expected, actual, family, case)
    assert merged['box'] == merged['score'] == 0 and merged['ties'] == 0


@pytest.mark.parametrize('case,dynamic', [('retinanet', True),
                                          ('cascade_giou', False)])
def test_exported_model_predicts_like_pytorch(case, dynamic, tmp_path):
    """Export through mogavision.deploy (dynamo, checked on ONNX Runtime),
    then run the config's data preprocessor + graph + postprocessing on
    ONNX Runtime and OpenVINO fp32: the data samples equal mmdet's, on a
    batch of two images of different sizes (padding, clipping to each
    img_shape) and, for a dynamic export, on another input size. (Mask
    R-CNN goes through the tools in test_tools_test_on_exported_mask_rcnn;
    two exports here keep this file's time down.)"""
    from mogavision.deploy.backends import DeployedModel
    from mogavision.deploy.export import export_model
    cfg = load_cfg(case)
    model = rule_weights(build_model(cfg))  # in eval mode
    # (320, 320): also the padded size of the two test photos' batch
    result = export_model(cfg, model, str(tmp_path), shape=(320, 320),
                          dynamic=dynamic, batch_size=2)
    assert result['meta']['exporter'] == 'dynamo'
    import onnx
    ops = {n.op_type for n in onnx.load(result['onnx']).graph.node}
    assert 'NonMaxSuppression' in ops
    assert ('RoiAlign' in ops) == (case != 'retinanet')
    batches = [collated(images())]
    if dynamic:  # one image, another padded size
        batches.append(collated(images()[1:], scale=(256, 192)))
    for data in batches:
        with torch.no_grad():
            expected = model.test_step(copy.deepcopy(data))
        for backend in ('onnxruntime', 'openvino'):
            deployed = DeployedModel(cfg, result['onnx'], backend=backend,
                                     threads=1)
            actual = deployed.test_step(copy.deepcopy(data))
            assert_same_predictions(expected, actual, result['family'],
                                    (case, backend))


def test_tools_test_on_exported_mask_rcnn(tmp_path, run_tool):
    """tools/deployment/export_onnx.py + tools/test.py --backend
    onnxruntime|openvino on synthetic COCO: the COCO bbox and segm metrics
    of the PyTorch checkpoint, and its --out predictions detection by
    detection."""
    import pickle

    from pycocotools import mask as mask_utils

    from mogavision.datasets.synthetic import write_coco_instances
    config = osp.join(REPO_ROOT, 'tests', 'data', 'configs',
                      'toy_moganet_mask_rcnn.py')
    root = str(tmp_path / 'coco') + '/'
    classes = Config.fromfile(config).classes
    files = write_coco_instances(root, splits={'val2017': 2}, classes=classes,
                                 shapes=classes, all_coco_categories=False)
    checkpoint = str(tmp_path / 'mask_rcnn.pth')
    torch.save({'meta': {}, 'state_dict': rule_weights(build_model(
        Config.fromfile(config))).state_dict()}, checkpoint)
    options = ['--cfg-options', f'test_dataloader.dataset.data_root={root}',
               f'test_evaluator.ann_file={files["val2017"]}']
    onnx_dir = tmp_path / 'onnx'
    run_tool(['tools/deployment/export_onnx.py', config, checkpoint,
              '--out-dir', str(onnx_dir), '--dynamic', *options])
    metrics, dumps = {}, {}
    for backend in ('pytorch', 'onnxruntime', 'openvino'):
        model = checkpoint if backend == 'pytorch' else \
            str(onnx_dir / 'end2end.onnx')
        dump = str(tmp_path / f'{backend}.pkl')
        out = run_tool(['tools/test.py', config, model, '--backend', backend,
                        '--work-dir', str(tmp_path / backend), '--out', dump,
                        *options], env=dict(OMP_NUM_THREADS='1'))
        metrics[backend] = re.findall(r'coco/(\w+): (-?\d\.\d+)', out)
        with open(dump, 'rb') as f:
            dumps[backend] = pickle.load(f)
    assert {'bbox_mAP', 'segm_mAP'} <= dict(metrics['pytorch']).keys()
    family = family_for(Config.fromfile(config))

    def predictions(sample):
        pred = sample['pred_instances']
        out = {k: pred[k].numpy() for k in ('bboxes', 'scores', 'labels')}
        out['masks'] = mask_utils.decode(pred['masks']).transpose(2, 0, 1) \
            if len(pred['masks']) else np.zeros((0, 1, 1), bool)
        return out

    for backend in ('onnxruntime', 'openvino'):
        assert metrics[backend] == metrics['pytorch'], backend
        for expected, actual in zip(dumps['pytorch'], dumps[backend]):
            stats = match_detections(predictions(expected),
                                     predictions(actual),
                                     *family.test_cfg[:2])
            assert stats['unmatched'] == 0 and stats['matched'] >= 20, stats
            assert stats['box'] <= 0.01 and stats['score'] <= 1e-4, stats
            assert stats['mask_iou'] >= 0.99 or stats['mask_pixels'] <= 2
