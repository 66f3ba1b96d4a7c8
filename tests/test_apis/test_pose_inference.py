"""mogavision.apis.pose: a pose config + checkpoint on an image -> a picture
of the skeletons."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from conftest import REPO_ROOT
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from mogavision.apis import pose as pose_api
from mogavision.datasets.synthetic import write_coco_keypoints

XT = osp.join(REPO_ROOT, 'configs', 'pose',
              'topdown_heatmap_moganet_xt_256x192.py')


@pytest.fixture(scope='module')
def model_and_image(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('pose_api')
    write_coco_keypoints(str(tmp), splits={'val2017': 1}, max_people=1)
    image = str(tmp / 'val2017' / '000000000001.jpg')
    # A random-weight model saved as a checkpoint, as tools/train.py would.
    model = pose_api.init_pose_model(XT)
    for param in model.parameters():
        torch.nn.init.normal_(param, std=0.1)
    ckpt = str(tmp / 'xt.pth')
    torch.save({'state_dict': model.state_dict(),
                'meta': {'dataset_meta': model.dataset_meta}}, ckpt)
    return pose_api.init_pose_model(XT, ckpt), image, model.state_dict(), ckpt


def test_checkpoint_is_loaded(model_and_image):
    model, _, saved, _ = model_and_image
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k], saved[k]) for k in saved)
    assert model.cfg.model.backbone.init_cfg is None  # nothing downloaded


def test_poses_drawn_for_given_boxes(model_and_image, tmp_path):
    model, image, _, _ = model_and_image
    boxes = [[20, 30, 110, 200], [80, 40, 180, 240]]
    result = pose_api.inference_pose(model, image, bboxes=boxes)
    assert result.pred_instances.keypoints.shape == (2, 17, 2)
    np.testing.assert_allclose(result.pred_instances.bboxes, boxes)

    out_file = str(tmp_path / 'vis' / 'pose.png')
    drawn = pose_api.draw_pose(model, image, result, out_file, kpt_thr=0.)
    written = cv2.imread(out_file)
    original = cv2.imread(image)
    assert written is not None and written.shape == original.shape
    assert drawn.shape == original.shape
    # Skeletons and boxes changed pixels.
    assert (np.abs(written.astype(int) - original).sum(-1) > 60).sum() > 100


def test_people_from_a_detector(model_and_image, monkeypatch, tmp_path):
    model, image, _, _ = model_and_image
    det = DetDataSample()
    det.pred_instances = InstanceData(
        bboxes=torch.tensor([[10., 20., 100., 200.], [0., 0., 50., 50.],
                             [30., 40., 150., 230.]]),
        scores=torch.tensor([0.9, 0.95, 0.1]),
        labels=torch.tensor([0, 2, 0]))
    import mmdet.apis
    monkeypatch.setattr(mmdet.apis, 'inference_detector',
                        lambda detector, img: det)
    result = pose_api.inference_pose(model, image, detector=object())
    # Only the confident person survives (a car and a low score do not).
    np.testing.assert_allclose(result.pred_instances.bboxes,
                               [[10., 20., 100., 200.]])



def test_command_line(model_and_image, tmp_path, capsys):
    _, image, _, ckpt = model_and_image
    out_file = str(tmp_path / 'cli.jpg')
    pose_api.main([XT, ckpt, image, '--bbox', '20', '30', '110', '200',
                   '--out', out_file, '--kpt-thr', '0'])
    assert '1 people drawn' in capsys.readouterr().out
    assert cv2.imread(out_file).shape == cv2.imread(image).shape
