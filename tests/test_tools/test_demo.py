"""tools/demo: image_demo writes a picture for every task; the built-in
synthetic config of `make demo` builds and its data are written by the
shared synthetic writer."""
import os.path as osp

import cv2
import pytest
from mmengine.config import Config

from mogavision.datasets.synthetic import (write_ade20k, write_coco_instances,
                                           write_coco_keypoints,
                                           write_imagenet)


@pytest.fixture(scope='module')
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp('demo_images')
    write_coco_instances(str(root / 'coco'), splits={'val2017': 1})
    write_ade20k(str(root / 'ade'), splits={'validation': 1})
    write_coco_keypoints(str(root / 'kp'), splits={'val2017': 1})
    write_imagenet(str(root / 'imnet'), splits={'val': 1}, num_classes=1)
    return dict(
        det=str(root / 'coco/val2017/000000000001.jpg'),
        seg=str(root / 'ade/images/validation/ADE_valid_00000001.jpg'),
        pose=str(root / 'kp/val2017/000000000001.jpg'),
        cls=str(root / 'imnet/val/n00000000/val_0_0.JPEG'))


@pytest.mark.parametrize('task,config,expected', [
    ('cls', 'configs/cls/moganet_xt_224.py', 'top-5:'),
    ('det', 'configs/det/mask_rcnn_moganet_xt.py', 'objects above score'),
    ('seg', 'configs/seg/semantic_fpn_moganet_xt.py', 'classes in the'),
    ('pose', 'configs/pose/topdown_heatmap_moganet_xt_256x192.py', 'people'),
])
def test_image_demo_writes_a_picture(task, config, expected, images, tmp_path,
                                     run_tool):
    out_file = str(tmp_path / f'{task}.png')
    out = run_tool(['tools/demo/image_demo.py', images[task], config,
                    '--out-file', out_file])
    assert expected in out
    picture = cv2.imread(out_file)
    source = cv2.imread(images[task])
    assert picture is not None and picture.shape[2] == 3
    assert picture.shape[:2] == source.shape[:2] or task == 'cls'


def test_demo_config_matches_demo_data(tmp_path):
    cfg = Config.fromfile('configs/det/mask_rcnn_moganet_xt_synthetic.py')
    classes = cfg.train_dataloader.dataset.metainfo.classes
    assert cfg.model.roi_head.bbox_head.num_classes == len(classes) == 3
    assert cfg.model.backbone.init_cfg is None  # no download in the demo
    ann = write_coco_instances(str(tmp_path), splits={'val2017': 1},
                               classes=classes)['val2017']
    assert osp.isfile(ann)
