"""Top-down heatmap export: flip test inside the graph, keypoints decoded
on the host (or in the graph with decode=True) equal PyTorch's."""
import numpy as np
import pytest
import torch

from mogavision.deploy.backends import DeployedModel
from mogavision.deploy.export import export_model
from deploy_helpers import image_path, tiny_config, tiny_model

BOXES = [[40., 30., 300., 360.], [0., 0., 200., 365.]]


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    cfg = tiny_config('pose')
    assert cfg.model.test_cfg.flip_test and cfg.model.test_cfg.shift_heatmap
    model = tiny_model(cfg)
    # mmpose initialises the last conv with std 0.001: flat heatmaps whose
    # peaks are ties at float precision; larger weights give real peaks
    torch.nn.init.normal_(model.head.final_layer.weight,
                          generator=torch.Generator().manual_seed(0))
    # decode=True: heatmaps and the graph's keypoints (tools/test.py's
    # tests run the default export, decoded by mmpose on the host)
    result = export_model(cfg, model, str(tmp_path_factory.mktemp('pose')),
                          options=dict(decode=True))
    model.dataset_meta = result['family'].dataset_meta()
    # both models also return their heatmaps (pred_fields), to compare
    cfg.model.test_cfg.output_heatmaps = True
    model.test_cfg['output_heatmaps'] = True
    return cfg, model, result


@pytest.mark.parametrize('backend', ['onnxruntime', 'openvino'])
def test_runtime_keypoints_equal_pytorch(exported, backend):
    from mmpose.apis import inference_topdown
    cfg, model, result = exported
    image = image_path('astronaut.png')
    deployed = DeployedModel(cfg, result['onnx'], backend=backend)
    people = {}
    for name, estimator in (('torch', model), ('runtime', deployed)):
        people[name] = inference_topdown(estimator, image, np.array(BOXES),
                                         bbox_format='xyxy')
    for got, expected in zip(people['runtime'], people['torch']):
        got, want = got.pred_instances, expected.pred_instances
        assert got.keypoints.shape == want.keypoints.shape == (1, 17, 2)
        np.testing.assert_allclose(got.bboxes, want.bboxes)
        np.testing.assert_allclose(got.keypoint_scores, want.keypoint_scores,
                                   atol=1e-5)
        # Where two heatmap values are closer than the runtimes' rounding,
        # either may be the argmax. Random weights make many such ties: the
        # flip test averages a heatmap with its mirror image, so flat
        # regions tie exactly at mirrored pixels.
        heatmaps = expected.pred_fields.heatmaps.numpy()
        error = np.abs(heatmaps - got_heatmaps(people, expected)).max()
        assert error < 1e-5
        top2 = np.sort(heatmaps.reshape(len(heatmaps), -1), -1)[:, -2:]
        clear = top2[:, 1] - top2[:, 0] > 10 * error
        assert clear.sum() >= 4
        np.testing.assert_allclose(got.keypoints[0][clear],
                                   want.keypoints[0][clear], atol=1e-3)


def got_heatmaps(people, expected):
    index = people['torch'].index(expected)
    return people['runtime'][index].pred_fields.heatmaps.numpy()


def test_heatmaps_include_the_flip_test_and_decode(exported):
    cfg, model, result = exported
    from mogavision.deploy.backends import build_backend
    backend = build_backend('onnxruntime', result['onnx'])
    inputs = torch.randn(3, 3, 256, 192)
    with torch.no_grad():
        plain = model.head(model.extract_feat(inputs))
        feats = [model.extract_feat(inputs),
                 model.extract_feat(inputs.flip(-1))]
        _, fields = model.head.predict(
            feats, [_sample(model)] * 3,
            test_cfg=dict(model.test_cfg, output_heatmaps=True))
    expected = torch.stack([f.heatmaps for f in fields])
    outputs = backend(inputs.numpy())
    heatmaps = torch.from_numpy(outputs['output'])
    assert torch.allclose(heatmaps, expected, atol=1e-5)
    assert not torch.allclose(heatmaps, plain, atol=1e-3)  # it is flipped
    # the graph's decoding is mmpose's MSRAHeatmap.decode of its heatmaps
    for keypoints, scores, heatmap in zip(outputs['keypoints'],
                                          outputs['keypoint_scores'],
                                          outputs['output']):
        want_keypoints, want_scores = model.head.decoder.decode(heatmap)
        np.testing.assert_allclose(keypoints, want_keypoints[0], atol=1e-4)
        np.testing.assert_allclose(scores, want_scores[0], atol=1e-6)


def _sample(model):
    from mmpose.structures import PoseDataSample
    return PoseDataSample(metainfo=dict(
        flip_indices=model.dataset_meta['flip_indices']))


def test_export_description_and_mismatch(exported):
    cfg, _, result = exported
    meta = result['meta']
    assert meta['outputs'] == ['output', 'keypoints', 'keypoint_scores']
    assert meta['input']['shape'] == [1, 3, 256, 192]
    assert meta['num_classes'] == 17 and meta['keypoint_names'][0] == 'nose'
    assert meta['postprocess']['flip_test'] is True
    no_flip = tiny_config('pose', **{'model.test_cfg.flip_test': False})
    with pytest.raises(ValueError, match='model.test_cfg.flip_test: exported '
                       'True, config False'):
        DeployedModel(no_flip, result['onnx'])
