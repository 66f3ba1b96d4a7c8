"""tools/demo: image_demo writes a picture for every task; the built-in
synthetic config of `make demo` builds and its data are written by the
shared synthetic writer."""
import importlib.util
import json
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


DEMO_CONFIG = 'configs/det/mask_rcnn_moganet_xt_synthetic.py'


@pytest.fixture(scope='module')
def run_demo(repo_root):
    spec = importlib.util.spec_from_file_location(
        'run_demo', osp.join(repo_root, 'tools/demo/run_demo.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_config_matches_demo_data(tmp_path):
    cfg = Config.fromfile(DEMO_CONFIG)
    classes = cfg.train_dataloader.dataset.metainfo.classes
    assert classes == cfg.classes == ('square', 'circle', 'triangle')
    assert cfg.model.roi_head.bbox_head.num_classes == len(classes) == 3
    assert cfg.model.roi_head.mask_head.num_classes == 3
    assert cfg.model.backbone.init_cfg is None  # no download in the demo
    assert cfg.randomness.deterministic
    ann = write_coco_instances(str(tmp_path), splits={'val2017': 12},
                               classes=classes, shapes=classes,
                               overlap=False, all_coco_categories=False,
                               image_size=cfg.image_scale)['val2017']
    with open(ann) as f:
        coco = json.load(f)
    assert [c['name'] for c in coco['categories']] == list(classes)
    name_of = {c['id']: c['name'] for c in coco['categories']}
    by_image = {}
    for a in coco['annotations']:
        x, y, w, h = a['bbox']
        if name_of[a['category_id']] in ('square', 'circle'):
            assert abs(w - h) < 1e-3, a
        by_image.setdefault(a['image_id'], []).append([x, y, x + w, y + h])
    assert len(by_image) == 12
    for boxes in by_image.values():  # clear of each other: masks are whole
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                assert (a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1]
                        or b[3] <= a[1]), (a, b)


def test_synthetic_shapes_are_checked(tmp_path):
    with pytest.raises(ValueError, match="Unknown shapes \\['star'\\]"):
        write_coco_instances(str(tmp_path), classes=('a', 'b'),
                             shapes=('circle', 'star'))
    with pytest.raises(ValueError, match='one shape per class'):
        write_coco_instances(str(tmp_path), classes=('a', 'b'),
                             shapes=('circle', ))


def test_metric_check_fails_outside_the_band(run_demo):
    (bbox_low, bbox_high), (segm_low, segm_high) = (
        run_demo.EXPECTED_MAP['coco/bbox_mAP'],
        run_demo.EXPECTED_MAP['coco/segm_mAP'])
    inside = {'coco/bbox_mAP': (bbox_low + bbox_high) / 2,
              'coco/segm_mAP': (segm_low + segm_high) / 2}
    assert run_demo.check_metrics(inside) == []
    for key, value in (('coco/bbox_mAP', bbox_low - 0.01),
                       ('coco/segm_mAP', segm_high + 0.01)):
        problems = run_demo.check_metrics(dict(inside, **{key: value}))
        assert len(problems) == 1 and problems[0].startswith(key), problems
        assert 'outside the band' in problems[0]
    problems = run_demo.check_metrics(
        {'coco/bbox_mAP': inside['coco/bbox_mAP']})
    assert problems == [
        "coco/segm_mAP missing from the test metrics (['coco/bbox_mAP'])"]


def test_readme_states_the_checked_band(run_demo, repo_root):
    with open(osp.join(repo_root, 'README.md')) as f:
        readme = f.read()
    for kind in ('bbox', 'segm'):
        low, high = run_demo.EXPECTED_MAP[f'coco/{kind}_mAP']
        assert f'{kind} mAP {low:.2f}–{high:.2f}' in readme, kind


def test_match_detections_counts_each_mistake(run_demo):
    gt_boxes = [[0, 0, 10, 10], [20, 20, 40, 40], [50, 0, 60, 10]]
    gt_labels = [0, 1, 2]
    boxes = [[0, 0, 10, 11],     # right
             [21, 20, 40, 40],   # right
             [20, 21, 40, 40],   # the same object again
             [50, 0, 60, 10],    # right place, wrong class
             [70, 70, 80, 80]]   # nothing there
    labels = [0, 1, 1, 0, 2]
    assert run_demo.match_detections(gt_boxes, gt_labels, boxes, labels) == \
        dict(objects=3, detections=5, right=1, missed=1, duplicates=1,
             wrong=2)
