"""INT8 post-training quantization (tools/deployment/quantize.py, NNCF):
the INT8 export runs through tools/test.py --backend on both runtimes close
to the fp32 one, records what was done, refuses what it must; the other
families quantize with their postprocessing kept in float."""
import importlib.util
import json
import os.path as osp
import pickle
import re
import warnings

import numpy as np
import onnx
import pytest
import torch

from mogavision.datasets.synthetic import write_imagenet
from mogavision.deploy.backends import DeployedModel, init_deployed_model
from mogavision.deploy.export import export_model, file_sha256
from mogavision.deploy.int8_recipes import (MOGANET_SPATIAL,
                                            nodes_of_modules, output_tail,
                                            outside_model)
from mogavision.deploy.quantize import (metric_values, quantize_export,
                                        warn_without_int8_units)
from deploy_helpers import (IMAGES, REPO_ROOT, TINY, image_path, tiny_config,
                            tiny_model)

pytestmark = pytest.mark.usefixtures('single_thread')

CLS_CONFIG = osp.join(REPO_ROOT, TINY['cls'])
#: iterations that take the toy classifier from chance to >= 90% top-1 on
#: the synthetic shapes (a random network's outputs hardly depend on the
#: image, so INT8 noise could not be told from its signal)
TRAIN_ITERS = 20


def load_tool(path: str):
    """A repository tool as a module (its ``main(argv)`` runs in-process:
    the tools' start-up is most of a small model's test time)."""
    name = 'tool_' + osp.splitext(path)[0].replace('/', '_')
    spec = importlib.util.spec_from_file_location(
        name, osp.join(REPO_ROOT, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def data_options(root: str) -> list:
    return [f'{split}_dataloader.dataset.data_root={root}'
            for split in ('train', 'val', 'test')]


def train_toy_classifier(cfg, work_dir):
    """The toy classifier trained briefly with mmengine's Runner."""
    from mmengine.runner import Runner
    cfg = cfg.copy()
    cfg.merge_from_dict({
        'train_cfg.max_iters': TRAIN_ITERS, 'train_cfg.val_interval':
        TRAIN_ITERS + 1, 'train_dataloader.batch_size': 16,
        'param_scheduler': [], 'optim_wrapper.optimizer.lr': 5e-3,
        'default_hooks.checkpoint': dict(type='CheckpointHook', interval=-1,
                                         save_last=False),
        'work_dir': work_dir, 'log_level': 'WARNING'})
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner.model.eval()


@pytest.fixture(scope='module')
def classifier(tmp_path_factory):
    """Synthetic ImageNet layout (train 64 images, val 16), the toy
    classifier trained on it, its fp32 export, the INT8 one made by
    tools/deployment/quantize.py (calibrated on the train split, evaluated
    on val) and tools/test.py's fp32 predictions."""
    tmp = tmp_path_factory.mktemp('int8_cls')
    root = str(tmp / 'imagenet')
    write_imagenet(root, splits={'train': 16, 'val': 4}, num_classes=4,
                   image_size=40)
    options = data_options(root)
    cfg = tiny_config('cls', **dict(o.split('=', 1) for o in options))
    torch.manual_seed(0)
    model = train_toy_classifier(cfg, str(tmp / 'train'))
    fp32 = export_model(cfg, model, str(tmp / 'fp32'),
                        config='toy_moganet_cls.py')['onnx']
    int8_dir = tmp / 'int8'
    load_tool('tools/deployment/quantize.py').main([
        CLS_CONFIG, fp32, '--out-dir', str(int8_dir), '--num-calib', '32',
        '--eval-backend', 'onnxruntime', '--work-dir', str(tmp / 'work'),
        '--cfg-options', *options])
    setup = dict(cfg=cfg, root=root, options=options, fp32=fp32,
                 int8=str(int8_dir / 'end2end.onnx'), tmp=tmp)
    setup['fp32_predictions'] = run_test_tool(setup, fp32, 'onnxruntime')
    return setup


def run_test_tool(setup, model_file, backend):
    """tools/test.py CONFIG MODEL --backend BACKEND --out: the predictions."""
    dump = setup['tmp'] / f'{osp.basename(osp.dirname(model_file))}_' \
        f'{backend}.pkl'
    load_tool('tools/test.py').main([
        CLS_CONFIG, model_file, '--backend', backend, '--work-dir',
        str(setup['tmp'] / 'work'), '--out', str(dump), '--cfg-options',
        *setup['options']])
    with open(dump, 'rb') as f:
        return pickle.load(f)


@pytest.mark.parametrize('backend', ['onnxruntime', 'openvino'])
def test_int8_classifier_through_test_tool(classifier, backend):
    """The INT8 export runs unchanged through tools/test.py --backend.

    Tolerance: INT8 softmax scores within 0.25 of fp32 (mean |difference|
    within 0.05), and the same label wherever fp32's top score leads the
    second by more than 0.5. Measured here: max 0.11, mean 0.02: the toy's
    8-channel stages leave every 8-bit activation few levels per channel,
    so a confident image moves most. Calibration that does not match the
    test inputs (black images, or raw pixels instead of normalised ones)
    collapses the scores to one class, off by up to 1."""
    expected = classifier['fp32_predictions']
    got = run_test_tool(classifier, classifier['int8'], backend)
    fp32 = np.stack([p['pred_score'].numpy() for p in expected])
    int8 = np.stack([p['pred_score'].numpy() for p in got])
    error = np.abs(int8 - fp32)
    assert error.max() < 0.25 and error.mean() < 0.05, error
    top2 = np.sort(fp32, 1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 0.5
    assert clear.sum() >= len(fp32) // 2  # a trained model: clear margins
    assert (int8.argmax(1) == fp32.argmax(1))[clear].all()


def test_int8_json_records_the_quantization(classifier):
    meta = json.loads(open(classifier['int8'][:-4] + 'json').read())
    quant = meta['quantization']
    assert meta['onnx_sha256'] == file_sha256(classifier['int8'])
    assert quant['fp32_onnx_sha256'] == file_sha256(classifier['fp32'])
    assert quant['fp32_onnx'] == 'fp32/end2end.onnx'
    assert quant['calibration']['count'] == 32
    assert quant['calibration']['source'].startswith('train split')
    assert quant['preset'] == 'performance'
    assert quant['nncf_version'] == __import__('nncf').__version__
    assert quant['kept_in_float']['nodes'] == {'Softmax': 1}
    evaluation = quant['evaluation']
    assert evaluation['split'] == 'test'
    fp32, int8 = (evaluation[k]['accuracy/top1'] for k in ('fp32', 'int8'))
    assert fp32 >= 80  # the trained toy
    assert evaluation['drop_points']['accuracy/top1'] == pytest.approx(
        fp32 - int8)
    # the graph holds int8 convolutions, the softmax stays float
    model = onnx.load(classifier['int8'])
    assert sum(n.op_type == 'QuantizeLinear' for n in model.graph.node) > 50
    softmax = next(n for n in model.graph.node if n.op_type == 'Softmax')
    producers = {o: n.op_type for n in model.graph.node for o in n.output}
    assert producers[softmax.input[0]] != 'DequantizeLinear'
    # the inference API takes it as it takes the fp32 export
    deployed = init_deployed_model(classifier['cfg'], classifier['int8'])
    assert deployed.meta['quantization'] == quant


def test_max_drop_refusal_writes_nothing(classifier, tmp_path):
    """Calibrated on blank images of the normalisation's mean colour (all
    zeros after the data preprocessor), every activation range collapses
    and the INT8 model cannot tell the classes apart: refused, exit 1,
    nothing written."""
    import cv2
    blank = tmp_path / 'blank'
    blank.mkdir()
    mean_bgr = np.round(classifier['cfg'].data_preprocessor.mean[::-1])
    for i in range(2):
        cv2.imwrite(str(blank / f'{i}.png'),
                    np.full((40, 40, 3), mean_bgr, np.uint8))
    out_dir = tmp_path / 'int8'
    with pytest.raises(SystemExit) as refused:
        load_tool('tools/deployment/quantize.py').main([
            CLS_CONFIG, classifier['fp32'], '--out-dir', str(out_dir),
            '--calib-images', str(blank), '--max-drop', '5',
            '--eval-backend', 'onnxruntime', '--work-dir',
            str(tmp_path / 'work'), '--cfg-options', *classifier['options']])
    assert refused.value.code == 1
    assert not out_dir.exists() or not list(out_dir.iterdir())


def quantize_cls(classifier, tmp_path, **kwargs):
    cfg = kwargs.pop('cfg', classifier['cfg']).copy()
    cfg.work_dir = str(tmp_path / 'work')
    return quantize_export(cfg, kwargs.pop('onnx', classifier['fp32']),
                           str(tmp_path / 'out'), **kwargs)


def test_numpy_metrics_are_kept():
    """mmseg's IoUMetric reports numpy float32 (no Python float): they
    are metrics too, text is not."""
    results = {'mIoU': np.float32(98.06), 'aAcc': 99.09,
               'coco/AP': np.float64(0.5), 'flag': True, 'name': 'x'}
    assert metric_values(results) == pytest.approx(
        {'mIoU': 98.06, 'aAcc': 99.09, 'coco/AP': 0.5})


def test_max_drop_needs_the_evaluation_split(classifier, tmp_path):
    cfg = classifier['cfg'].copy()
    cfg.test_dataloader.dataset.data_root = str(tmp_path / 'absent')
    with pytest.raises(ValueError, match=r'(?s)--max-drop needs the '
                       r'evaluation split.*test_dataloader.dataset.ann_file: '
                       r'.*absent.*test_dataloader.dataset.data_root='):
        quantize_cls(classifier, tmp_path, cfg=cfg, max_drop=1.)
    assert not (tmp_path / 'out').exists()


def test_bad_inputs_are_refused(classifier, tmp_path):
    # an already quantized model
    with pytest.raises(ValueError, match=r'int8/end2end.onnx is already '
                       r'quantized \(INT8 of fp32/end2end.onnx\): quantize '
                       'the fp32 export'):
        quantize_cls(classifier, tmp_path, onnx=classifier['int8'])
    # the fp32 directory as output
    with pytest.raises(ValueError, match='would replace: choose another'):
        quantize_export(classifier['cfg'], classifier['fp32'],
                        osp.dirname(classifier['fp32']))
    # an export of another config (the export JSON's checks)
    other = tiny_config('cls', **{'model.head.num_classes': 5})
    with pytest.raises(ValueError, match='num_classes: exported 4, config 5'):
        quantize_cls(classifier, tmp_path, cfg=other)
    # calibration sets without images: a folder, a split
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(ValueError, match=re.escape(
            f'--calib-images {empty} holds no images')):
        quantize_cls(classifier, tmp_path, calib_images=str(empty))
    cfg = classifier['cfg'].copy()
    (empty / 'meta').mkdir()
    (empty / 'meta' / 'train.txt').write_text('')
    (empty / 'train').mkdir()
    cfg.train_dataloader.dataset.data_root = str(empty)
    with pytest.raises(ValueError, match=re.escape(
            'The train split of the config has no images to calibrate on '
            f"(data_root='{empty}'")):
        quantize_cls(classifier, tmp_path, cfg=cfg)
    assert not (tmp_path / 'out').exists()


def test_cpu_without_int8_units_is_warned_about():
    with pytest.warns(UserWarning, match='no int8 dot-product instructions'):
        assert warn_without_int8_units({'avx2', 'fma'})
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert not warn_without_int8_units({'avx2', 'avx512_vnni'})


# ------------------------------------------------------ the other families
def quantize_family(name, tmp_path_factory, export_options=None,
                    **cfg_options):
    """A random-weight toy of ``name`` exported and quantized on two photos
    (--calib-images, no evaluation)."""
    from mmengine.config import Config
    cfg = tiny_config(name, **cfg_options) if name in TINY else \
        Config.fromfile(osp.join(REPO_ROOT, 'tests', 'data', 'configs',
                                 'toy_moganet_mask_rcnn.py'))
    cfg.merge_from_dict(cfg_options)
    model = tiny_model(cfg)
    tmp = tmp_path_factory.mktemp(f'int8_{name}')
    fp32 = export_model(cfg, model, str(tmp / 'fp32'),
                        options=export_options or {},
                        dynamic=name in ('det', 'semantic_fpn'))['onnx']
    cfg.work_dir = str(tmp / 'work')
    result = quantize_export(cfg, fp32, str(tmp / 'int8'),
                             calib_images=IMAGES, num_calib=2,
                             evaluate_split=False)
    return cfg, fp32, result


def dequantized_inputs(model, op_types=(), names=()):
    """Nodes (of ``op_types`` or named ``names``) that compute on an int8
    tensor (a DequantizeLinear output; ``Shape`` only reads its size):
    none that the recipe keeps in float."""
    producers = {o: n.op_type for n in model.graph.node for o in n.output}
    names = set(names)
    return [n.name for n in model.graph.node
            if (n.op_type in op_types or n.name in names) and
            n.op_type != 'Shape' and
            any(producers.get(i) == 'DequantizeLinear' for i in n.input)]


@pytest.mark.parametrize('name', ['semantic_fpn', 'pose'])
def test_dense_family_int8_on_both_runtimes(name, tmp_path_factory):
    """Segmentation logits and pose heatmaps: INT8 within 10% of the fp32
    output's range on both runtimes (random toy weights: measured below
    2%; a wrongly scaled quantizer errs by the whole range), and the
    output tail (final resize / flip-test averaging) kept in float."""
    from mogavision.deploy.calibration import CalibrationData
    seg = name == 'semantic_fpn'
    options = {'test_dataloader.dataset.pipeline.1.scale': (128, 64)} \
        if seg else {}
    cfg, fp32, result = quantize_family(
        name, tmp_path_factory, dict(logits=True) if seg else None,
        **options)
    model = onnx.load(result['onnx'])
    tail = output_tail(onnx.load(fp32))
    assert tail and not dequantized_inputs(model, names=tail)
    reference = DeployedModel(cfg, fp32)
    feeds = next(iter(CalibrationData.from_images(reference.family, IMAGES,
                                                  1)))
    want = reference.backend(feeds)['output']
    for backend in ('onnxruntime', 'openvino'):
        got = DeployedModel(cfg, result['onnx'], backend=backend)
        out = got.backend(feeds)['output']
        assert out.shape == want.shape
        error = np.abs(out - want).max() / np.abs(want).max()
        assert error < 0.1, (backend, error)


def test_detector_int8_keeps_postprocessing_in_float(tmp_path_factory):
    """Mask R-CNN: only the toolbox model's layers are quantized, but
    MogaNet's spatial aggregation blocks; NMS, RoIAlign and the box
    decoding around them read float tensors, and the INT8 graph runs on
    both runtimes with the fp32 graph's outputs."""
    cfg, fp32, result = quantize_family('det', tmp_path_factory)
    fp32_model, model = onnx.load(fp32), onnx.load(result['onnx'])
    outside = outside_model(fp32_model)
    assert {n.op_type for n in fp32_model.graph.node
            if n.name in set(outside)} >= {'NonMaxSuppression', 'RoiAlign',
                                           'TopK', 'Exp', 'Mul', 'Add'}
    assert not dequantized_inputs(model, names=outside)
    spatial = nodes_of_modules(fp32_model, [MOGANET_SPATIAL])
    assert spatial and not dequantized_inputs(model, names=spatial)
    convs = [n.name for n in model.graph.node if n.op_type == 'Conv' and
             n.name not in set(spatial)]
    assert len(dequantized_inputs(model, names=convs)) == len(convs)
    # --float-modules: module paths (and their submodules) by name scope
    assert len(nodes_of_modules(fp32_model, [r'model\.roi_head'])) > len(
        nodes_of_modules(fp32_model, [r'model\.roi_head\.bbox_head'])) > 0
    with pytest.raises(ValueError, match=r"No module of the graph matches "
                       r"\['model.roi_heads'\]"):
        nodes_of_modules(fp32_model, ['model.roi_heads'])
    image = image_path('chelsea.png')
    from mogavision.deploy.backends import inference_deployed
    for backend in ('onnxruntime', 'openvino'):
        sample = inference_deployed(
            DeployedModel(cfg, result['onnx'], backend=backend), image)
        assert sample.pred_instances.bboxes.shape[1] == 4


def test_benchmark_int8_modes(capsys):
    """tools/analysis/benchmark.py times the INT8 graph beside the fp32 one
    (interleaved), on both runtimes."""
    load_tool('tools/analysis/benchmark.py').main([
        CLS_CONFIG, '--shape', '32', '32', '--iters', '1', '--warmup', '1',
        '--repeats', '1', '--num-calib', '2', '--default-malloc',
        '--threads', '1', '--modes', 'openvino', 'openvino_int8',
        'onnxruntime_int8'])
    out = capsys.readouterr().out
    rows = {mode: (float(speed), float(diff)) for mode, speed, diff in
            re.findall(r'^(\w+)\s+([\d.]+)\s+\S+ (\d\.\d+e[-+]\d+)', out,
                       re.M)}
    assert set(rows) == {'openvino', 'openvino_int8', 'onnxruntime_int8'}
    assert all(speed > 0 for speed, _ in rows.values())
    assert rows['openvino'][1] < 1e-4  # fp32: the same numbers as eager
    # int8: the quantized graph ran (outputs differ from fp32), finite
    assert 0 < rows['openvino_int8'][1] < float('inf')


def test_constant_casts_are_folded_before_nncf():
    """NNCF 3.4 cannot read a graph with a ``Cast`` of an initializer (as
    the Cascade R-CNN exports have): ``quantize_onnx`` folds them first;
    the folded graph computes the same values."""
    import nncf
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
    from mogavision.deploy.quantize import fold_constant_casts
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(
        rng.standard_normal((4, 3, 3, 3)).astype(np.float32), 'weight')
    offset = numpy_helper.from_array(np.arange(4, dtype=np.int64)
                                     .reshape(1, 4, 1, 1), 'offset')
    graph = helper.make_graph(
        [helper.make_node('Conv', ['x', 'weight'], ['conv']),
         helper.make_node('Cast', ['offset'], ['offset_f'],
                          to=TensorProto.FLOAT),
         helper.make_node('Add', ['conv', 'offset_f'], ['y'])], 'g',
        [helper.make_tensor_value_info('x', TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info('y', TensorProto.FLOAT, None)],
        [weight, offset])
    model = helper.make_model(graph,
                              opset_imports=[helper.make_opsetid('', 18)])
    x = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)

    def run(m):
        session = ort.InferenceSession(m.SerializeToString(),
                                       providers=['CPUExecutionProvider'])
        return session.run(None, {'x': x})[0]

    def quantize(m):
        return nncf.quantize(m, nncf.Dataset([{'x': x}]), subset_size=1)

    expected = run(model)
    with pytest.raises(AttributeError):  # NNCF's own failure, unfolded
        quantize(onnx.ModelProto.FromString(model.SerializeToString()))
    assert fold_constant_casts(model) == 1
    assert [n.op_type for n in model.graph.node] == ['Conv', 'Add']
    np.testing.assert_array_equal(run(model), expected)
    assert any(n.op_type == 'QuantizeLinear'
               for n in quantize(model).graph.node)
