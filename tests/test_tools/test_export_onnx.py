"""tools/deployment/export_onnx.py: whole models and backbones, checked
with ONNX Runtime; unsupported configs fail naming what is supported."""
import json
import re
import subprocess
import sys

import numpy as np
import onnxruntime as ort

TOY_CLS = 'tests/data/configs/toy_moganet_cls.py'


def test_export_whole_classifier(tmp_path, run_tool):
    out = run_tool(['tools/deployment/export_onnx.py', TOY_CLS, '--out-dir',
                    str(tmp_path), '--deploy'])
    assert 'cls export, input 1x3x32x32, dynamo exporter, opset 20' in out
    (diff, ) = re.findall(r'output: max \|onnxruntime - torch\| = '
                          r'(\d\.\d+e[-+]\d+)', out)
    assert float(diff) <= 1e-5
    meta = json.loads((tmp_path / 'end2end.json').read_text())
    assert meta['folded'] is True and meta['family'] == 'cls'
    session = ort.InferenceSession(str(tmp_path / 'end2end.onnx'),
                                   providers=['CPUExecutionProvider'])
    (scores, ) = session.run(None, {'input': np.zeros((2, 3, 32, 32),
                                                      np.float32)})
    assert scores.shape == (2, 4)  # dynamic batch; softmax scores
    np.testing.assert_allclose(scores.sum(1), 1, rtol=1e-5)
    assert not list(tmp_path.glob('.*partial*'))


def test_export_backbone_dynamic(tmp_path, run_tool):
    out = run_tool(['tools/deployment/export_onnx.py', TOY_CLS, '--out-dir',
                    str(tmp_path), '--part', 'backbone', '--shape', '64',
                    '64', '--dynamic', '--deploy'])
    assert 'backbone.onnx' in out and 'stage3: max |onnxruntime' in out
    session = ort.InferenceSession(str(tmp_path / 'backbone.onnx'),
                                   providers=['CPUExecutionProvider'])
    (feat, ) = session.run(None, {'input': np.zeros((2, 3, 96, 64),
                                                    np.float32)})
    assert feat.shape == (2, 32, 3, 2)  # dynamic batch and size


def test_unsupported_config_names_supported_families(tmp_path, repo_root):
    proc = subprocess.run(
        [sys.executable, 'tools/deployment/export_onnx.py',
         'configs/pose/examples/simcc_moganet_xt_wo-deconv_coco-256x192.py',
         '--out-dir', str(tmp_path)], cwd=repo_root, capture_output=True,
        text=True)
    assert proc.returncode != 0
    assert "No export family for this config's model (type=" \
        "'TopdownPoseEstimator', head='SimCCHead')" in proc.stderr
    assert 'topdown_heatmap: mmpose TopdownPoseEstimator + HeatmapHead' in \
        proc.stderr
    assert not list(tmp_path.iterdir())  # nothing written


def test_default_export_fits_the_test_pipeline(repo_root):
    """Without --dynamic/--static the whole-model export is dynamic where
    the test pipeline keeps the aspect ratio (seg, det) and fixed where it
    gives one size (cls crop, pose input size)."""
    import pytest
    from mmengine.config import Config
    from mogavision.deploy import family_for
    from mogavision.deploy.export import dynamic_by_default
    configs = {'tests/data/configs/toy_moganet_semantic_fpn.py': True,
               'tests/data/configs/toy_moganet_mask_rcnn.py': True,
               TOY_CLS: False,
               'tests/data/configs/toy_moganet_topdown_heatmap.py': False}
    for config, dynamic in configs.items():
        family = family_for(Config.fromfile(f'{repo_root}/{config}'))
        assert dynamic_by_default(family) is dynamic, config
        assert dynamic_by_default(family, static=True) is False
        assert dynamic_by_default(family, dynamic=True) is True
    # segmentation: the faithful graph (logits; mmseg's own label maps on
    # the host) by default, the class map as the option
    seg = family_for(Config.fromfile(
        f'{repo_root}/tests/data/configs/toy_moganet_semantic_fpn.py'))
    assert seg.options['logits'] is True
    with pytest.raises(ValueError, match='--dynamic and --static'):
        dynamic_by_default(family, dynamic=True, static=True)
