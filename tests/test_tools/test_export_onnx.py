"""tools/deployment/export_onnx.py round-trips through ONNX Runtime."""
import re

import numpy as np
import onnxruntime as ort
import pytest


@pytest.mark.parametrize('deploy', [False, True])
def test_export_backbone_and_classifier(deploy, tmp_path, run_tool):
    args = ['tools/deployment/export_onnx.py',
            'tests/data/configs/toy_moganet_cls.py', '--out-dir',
            str(tmp_path), '--shape', '64', '64']
    out = run_tool(args + (['--deploy'] if deploy else []))
    diffs = [float(d) for d in re.findall(r'= (\d\.\d+e[-+]\d+)', out)]
    assert len(diffs) == 2 and max(diffs) <= 1e-4
    session = ort.InferenceSession(
        str(tmp_path / 'toy_moganet_cls_backbone.onnx'),
        providers=['CPUExecutionProvider'])
    (feat, ) = session.run(None, {'input': np.zeros((2, 3, 96, 64),
                                                    np.float32)})
    assert feat.shape == (2, 32, 3, 2)  # dynamic batch and size
    logits = ort.InferenceSession(
        str(tmp_path / 'toy_moganet_cls_classifier.onnx'),
        providers=['CPUExecutionProvider']).run(
            None, {'input': np.zeros((1, 3, 64, 64), np.float32)})[0]
    assert logits.shape == (1, 4)
