"""Classifier export: ONNX Runtime and OpenVINO give the PyTorch model's
scores and labels, through the toolbox's own inference API."""
import numpy as np
import pytest
import torch

from mogavision.deploy.backends import DeployedModel, inference_deployed
from mogavision.deploy.export import export_model
from deploy_helpers import image_path, tiny_config, tiny_model


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    cfg = tiny_config('cls')
    model = tiny_model(cfg)
    out_dir = str(tmp_path_factory.mktemp('cls'))
    result = export_model(cfg, model, out_dir, config='toy_moganet_cls.py')
    return cfg, model, result


def torch_prediction(model, cfg, image):
    from mmengine.registry import DefaultScope
    from mmpretrain.apis import ImageClassificationInferencer
    model._config, model._dataset_meta = cfg, {}
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        inferencer = ImageClassificationInferencer(model=model,
                                                   pretrained=False)
        return inferencer(image, return_datasamples=True)[0]


def test_export_writes_graph_and_description(exported):
    cfg, _, result = exported
    meta = result['meta']
    assert meta['family'] == 'cls' and meta['outputs'] == ['output']
    assert meta['input']['shape'] == [1, 3, 32, 32]  # the config's crop
    assert meta['num_classes'] == 4
    assert meta['preprocess']['mean'] == [123.675, 116.28, 103.53]
    assert meta['preprocess']['bgr_to_rgb'] is True
    assert meta['exporter'] == 'dynamo'
    assert result['diffs']['output'] < 1e-5


@pytest.mark.parametrize('backend', ['onnxruntime', 'openvino'])
def test_runtime_predicts_as_pytorch(exported, backend):
    cfg, model, result = exported
    deployed = DeployedModel(cfg, result['onnx'], backend=backend)
    image = image_path()
    expected = torch_prediction(model, cfg, image)
    got = inference_deployed(deployed, image)
    assert torch.allclose(got.pred_score, expected.pred_score, atol=1e-5)
    assert got.pred_label.tolist() == expected.pred_label.tolist()
    # a batch of another size than exported: the batch axis is dynamic
    batch = torch.randn(3, 3, 32, 32)
    samples = deployed(batch)
    with torch.no_grad():
        ref = model(batch, mode='predict')
    for s, r in zip(samples, ref):
        assert torch.allclose(s.pred_score, r.pred_score, atol=1e-5)


def test_deployed_model_only_predicts(exported):
    cfg, _, result = exported
    deployed = DeployedModel(cfg, result['onnx'])
    with pytest.raises(RuntimeError, match="predicts only.*mode='loss'"):
        deployed(torch.zeros(1, 3, 32, 32), [], mode='loss')


def test_another_class_count_is_refused(exported):
    _, _, result = exported
    cfg = tiny_config('cls', **{'model.head.num_classes': 5})
    with pytest.raises(ValueError, match='num_classes: exported 4, config 5'):
        DeployedModel(cfg, result['onnx'])


def test_another_input_size_is_refused(exported):
    _, _, result = exported  # exported at the config's 32x32 crop
    cfg = tiny_config('cls', **{
        'test_dataloader.dataset.pipeline.1.scale': 54,
        'test_dataloader.dataset.pipeline.2.crop_size': 48})
    with pytest.raises(ValueError, match='input size: exported 32x32, the '
                       "config's test pipeline gives 48x48"):
        DeployedModel(cfg, result['onnx'])


def test_json_of_another_export_is_refused(exported, tmp_path):
    import shutil
    import onnx
    _, _, result = exported
    cfg = exported[0]
    model = onnx.load(result['onnx'])
    model.doc_string = 'another export'
    onnx.save(model, str(tmp_path / 'end2end.onnx'))
    shutil.copy(result['meta_file'], tmp_path / 'end2end.json')
    with pytest.raises(ValueError, match='SHA-256 differs'):
        DeployedModel(cfg, str(tmp_path / 'end2end.onnx'))
    (tmp_path / 'end2end.json').unlink()
    with pytest.raises(FileNotFoundError, match='end2end.json not found'):
        DeployedModel(cfg, str(tmp_path / 'end2end.onnx'))


def test_static_graph_refuses_another_size(exported):
    from mogavision.deploy.backends import build_backend
    backend = build_backend('onnxruntime', exported[2]['onnx'])
    with pytest.raises(ValueError, match=r'takes input \?x3x32x32; this batch '
                       r'is 1x3x40x32.*--dynamic'):
        backend(np.zeros((1, 3, 40, 32), np.float32))


def openvino_has(capability: str) -> bool:
    import openvino as ov
    return capability in ov.Core().get_property('CPU',
                                                'OPTIMIZATION_CAPABILITIES')


def test_openvino_precision_is_explicit(exported):
    import openvino as ov
    from mogavision.deploy.backends import OpenVINOBackend
    backend = OpenVINOBackend(exported[2]['onnx'])
    assert backend.compiled.get_property(
        'INFERENCE_PRECISION_HINT') == ov.Type.f32


@pytest.mark.skipif(not openvino_has('BF16'), reason='CPU without bf16')
def test_openvino_bf16_where_the_cpu_has_it(exported):
    import openvino as ov
    from mogavision.deploy.backends import OpenVINOBackend
    bf16 = OpenVINOBackend(exported[2]['onnx'], precision='bf16')
    assert bf16.compiled.get_property(
        'INFERENCE_PRECISION_HINT') == ov.Type.bf16


@pytest.mark.skipif(openvino_has('BF16'), reason='CPU with bf16')
def test_openvino_bf16_refused_without_cpu_support(exported):
    # OpenVINO would silently run f32: refused instead
    from mogavision.deploy.backends import OpenVINOBackend
    with pytest.raises(RuntimeError, match='no BF16 support'):
        OpenVINOBackend(exported[2]['onnx'], precision='bf16')
