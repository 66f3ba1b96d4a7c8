"""ParallelRoIAlignHook and the tools' choice of models that get it."""
import os.path as osp
from types import SimpleNamespace

import torch
from conftest import REPO_ROOT
from mmcv.ops import RoIAlign
from mmengine.config import Config

from mogavision.engine import ParallelRoIAlignHook
from mogavision.engine.runtime import use_parallel_roi_align
from mogavision.ops import ParallelRoIAlign

DET_DIR = osp.join(REPO_ROOT, 'configs', 'det')


def test_hook_changes_the_models_roi_layers():
    model = torch.nn.Sequential(RoIAlign(7, 0.25), torch.nn.ReLU())
    ParallelRoIAlignHook().before_run(SimpleNamespace(model=model))
    assert type(model[0]) is ParallelRoIAlign


def test_tools_add_the_hook_only_to_models_with_roi_align():
    mask_rcnn = Config.fromfile(osp.join(DET_DIR, 'mask_rcnn_moganet_xt.py'))
    retinanet = Config.fromfile(osp.join(DET_DIR, 'retinanet_moganet_xt.py'))
    use_parallel_roi_align(mask_rcnn)
    use_parallel_roi_align(retinanet)
    assert mask_rcnn.custom_hooks == [
        dict(type='mogavision.ParallelRoIAlignHook')]
    assert not retinanet.get('custom_hooks')
