"""The installed stack works: imports, compiled mmcv ops, Runner checkpoints."""
import importlib

import pytest
import torch

import mogavision
from mogavision import environment


@pytest.mark.parametrize('module', ['mmpretrain.models', 'mmdet.models',
                                    'mmseg.models', 'mmpose.models',
                                    'mogavision.models'])
def test_toolbox_models_import(module):
    importlib.import_module(module)


def test_check_environment_passes():
    mogavision.check_environment()


def test_check_environment_lists_every_problem(monkeypatch):
    monkeypatch.setitem(environment.SUPPORTED, 'mmdet', ('9.0.0', '10.0.0'))
    monkeypatch.setitem(environment.SUPPORTED, 'not-a-real-package',
                        ('1.0', '2.0'))
    with pytest.raises(ImportError) as info:
        mogavision.check_environment()
    message = str(info.value)
    assert 'mmdet 3.3.0 is out of range (need >=9.0.0,<10.0.0)' in message
    assert 'not-a-real-package is not installed' in message
    assert 'make setup' in message


def test_mmcv_ops_run():
    from mmcv.ops import RoIAlign, nms
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.],
                          [50., 50., 60., 60.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    dets, keep = nms(boxes, scores, iou_threshold=0.5)
    assert keep.tolist() == [0, 2]
    feats = torch.arange(64.).view(1, 1, 8, 8)
    rois = torch.tensor([[0., 0., 0., 3., 3.]])
    out = RoIAlign((2, 2), spatial_scale=1.0, sampling_ratio=2,
                   aligned=False)(feats, rois)
    assert out.shape == (1, 1, 2, 2)
    assert out[0, 0, 0, 0] < out[0, 0, 1, 1]


def test_check_environment_refuses_opencv_5(monkeypatch):
    import cv2
    monkeypatch.setattr(cv2, '__version__', '5.0.0')
    with pytest.raises(ImportError) as info:
        mogavision.check_environment()
    message = str(info.value)
    assert 'OpenCV 5.0.0 is out of range (need >=4.10.0,<5.0.0' in message
    assert 'warpAffine' in message and environment.OPENCV_PIN in message


def test_import_mogavision_leaves_the_toolboxes_alone():
    """``import mogavision`` (safe checkpoint loading) costs torch and
    mmengine only: the toolboxes load when a model or config needs them."""
    import subprocess
    import sys
    code = ('import sys, mogavision; print(sorted(m for m in sys.modules if '
            'm.split(".")[0] in {"mmdet", "mmseg", "mmpose", "mmpretrain"}))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == '[]'
