"""Segmentor export (Semantic FPN, UperNet): dynamic sizes, class map and
logits outputs, ONNX Runtime and OpenVINO against PyTorch."""
import pytest
import torch

from mogavision.deploy.backends import DeployedModel, inference_deployed
from mogavision.deploy.export import export_model
from deploy_helpers import image_path, tiny_config, tiny_model

#: keep-ratio resize of the photos to a short side of 64 (then aligned to
#: 32 by AlignResize), small enough for a test
SMALL_TEST_SIZE = {'test_dataloader.dataset.pipeline.1.scale': (256, 64)}


def seg_config(name, **extra):
    cfg = tiny_config(name, **SMALL_TEST_SIZE, **extra)
    cfg.test_pipeline = cfg.test_dataloader.dataset.pipeline  # mmseg's API
    return cfg


#: config -> the outputs exported (logits=...): the class map once
EXPORTS = {'semantic_fpn': (False, True), 'upernet': (True, )}


@pytest.fixture(scope='module', params=sorted(EXPORTS))
def exported(request, tmp_path_factory):
    cfg = seg_config(request.param)
    model = tiny_model(cfg)
    results = {}
    for logits in EXPORTS[request.param]:
        out_dir = str(tmp_path_factory.mktemp(f'{request.param}_{logits}'))
        results[logits] = export_model(cfg, model, out_dir, shape=(64, 96),
                                       dynamic=True,
                                       options=dict(logits=logits))
    return cfg, model, results


def torch_prediction(model, image):
    from mmseg.apis import inference_model
    return inference_model(model, image)


@pytest.mark.parametrize('backend', ['onnxruntime', 'openvino'])
def test_runtime_segments_as_pytorch(exported, backend):
    cfg, model, results = exported
    image = image_path('grace_hopper.png')  # 385x451 -> 64x... not 64x96
    expected = torch_prediction(model, image)
    labels = expected.pred_sem_seg.data
    assert labels.shape[1:] == (451, 385)
    # logits: mmseg's own postprocessing on the runtime's logits
    got = inference_deployed(
        DeployedModel(cfg, results[True]['onnx'], backend=backend), image)
    assert torch.allclose(got.seg_logits.data, expected.seg_logits.data,
                          atol=1e-4, rtol=1e-4)
    assert (got.pred_sem_seg.data == labels).float().mean() >= 0.9999
    if False not in results:
        return
    # class map (logits=False): the graph's argmax, resized nearest on the host
    got = inference_deployed(
        DeployedModel(cfg, results[False]['onnx'], backend=backend), image)
    assert got.pred_sem_seg.data.shape == labels.shape
    assert 'seg_logits' not in got
    agree = (got.pred_sem_seg.data == labels).float().mean().item()
    assert agree >= 0.95, agree  # boundary pixels: nearest vs bilinear


def test_class_map_equals_pytorch_without_resize(exported):
    """Where the test pipeline keeps the image size, the class map output is
    PyTorch's label map exactly (the resize is the only difference)."""
    cfg, model, results = exported
    if False not in results:
        pytest.skip('class map exported for Semantic FPN only')
    deployed = DeployedModel(cfg, results[False]['onnx'])
    from mmseg.structures import SegDataSample
    inputs = torch.randn(2, 3, 96, 64)  # another size and batch than exported
    samples = [SegDataSample(metainfo=dict(
        ori_shape=(96, 64), img_shape=(96, 64), pad_shape=(96, 64),
        padding_size=[0, 0, 0, 0])) for _ in range(2)]
    with torch.no_grad():
        expected = model.predict(inputs, [s.clone() for s in samples])
    got = deployed(inputs, samples)
    for g, e in zip(got, expected):
        assert (g.pred_sem_seg.data == e.pred_sem_seg.data).float().mean() \
            >= 0.999


def test_export_description_and_mismatch(exported):
    cfg, _, results = exported
    meta = results[True]['meta']
    assert meta['family'] == 'encoder_decoder'
    assert meta['input']['dynamic'] is True
    assert meta['num_classes'] == 150 and len(meta['classes']) == 150
    assert meta['postprocess']['output'] == 'logits'
    assert any(step['type'] == 'mogavision.AlignResize'
               for step in meta['test_pipeline'])
    if False in results:
        assert results[False]['meta']['postprocess']['output'] == \
            'class_map'
    other = cfg.copy()
    other.merge_from_dict({'model.decode_head.num_classes': 19})
    with pytest.raises(ValueError, match='num_classes: exported 150, config '
                       '19'):
        DeployedModel(other, results[True]['onnx'])
