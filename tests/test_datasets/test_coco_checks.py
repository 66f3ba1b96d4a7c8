"""``CheckedCocoDataset`` / ``CheckedCocoPoseDataset``: malformed COCO
annotations are skipped with a counted warning, valid ones parse as the
toolboxes parse them."""
import json
import logging
import os.path as osp

import numpy as np
import pytest
from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS as MMDET_DATASETS
from mmengine.logging import MMLogger
from mmpose.datasets import CocoDataset as CocoPoseDataset
from mmpose.registry import DATASETS as MMPOSE_DATASETS

from mogavision.datasets import CheckedCocoDataset, CheckedCocoPoseDataset
from mogavision.datasets.synthetic import (write_coco_instances,
                                           write_coco_keypoints)

CLASSES = ('person', 'bicycle', 'car')
VALID_SQUARE = [20., 20., 60., 20., 60., 60., 20., 60.]


@pytest.fixture
def warnings_logged(caplog):
    """Warnings logged through mmengine's current ``MMLogger``, which does
    not propagate to the root logger that ``caplog`` listens to."""
    logger = MMLogger.get_current_instance()
    logger.addHandler(caplog.handler)
    yield lambda: [r.getMessage() for r in caplog.records
                   if r.levelno == logging.WARNING]
    logger.removeHandler(caplog.handler)


def _edit_json(src, dst, edit):
    with open(src) as f:
        content = json.load(f)
    edit(content)
    with open(dst, 'w') as f:
        json.dump(content, f)
    return dst


def _ann(ann_id, image_id, bbox, category_id=1, **extra):
    return dict(id=ann_id, image_id=image_id, category_id=category_id,
                bbox=bbox, area=float(bbox[2] * bbox[3]), iscrowd=0, **extra)


def _assert_same(a, b):
    """Deep equality that also compares numpy arrays."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), (a, b)
        for key in a:
            _assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), (a, b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b, (a, b)


def _data(dataset):
    return [dataset.get_data_info(i) for i in range(len(dataset))]


# ----------------------------------------------------------- detection ---

@pytest.fixture(scope='module')
def det_files(tmp_path_factory):
    """The clean synthetic file, the file with malformed annotations added
    and the reference: the clean file plus the valid polygon of ann 104."""
    root = str(tmp_path_factory.mktemp('coco'))
    clean = write_coco_instances(root, splits={'train2017': 3},
                                 image_size=(160, 128),
                                 classes=CLASSES)['train2017']
    two_polygons = _ann(104, 2, [20., 20., 40., 40.],
                        segmentation=[VALID_SQUARE, [1., 2., 3., 4., 5.]])
    bad_anns = [
        _ann(101, 1, [200., 10., 20., 20.],
             segmentation=[[200., 10., 220., 10., 220., 30.]]),
        _ann(102, 1, [10., 10., 0., 20.], segmentation=[VALID_SQUARE]),
        _ann(103, 2, [10., 10., 20., 20.],
             segmentation=[[10., 10., 30., 30.]]),
        two_polygons,
        _ann(105, 3, [10., 10., 20., 20.],
             segmentation=[[10., 10., 20., 20., 30., 30.]]),
    ]
    bad = _edit_json(clean, osp.join(root, 'annotations', 'bad.json'),
                     lambda c: c['annotations'].extend(bad_anns))
    reference = _edit_json(
        clean, osp.join(root, 'annotations', 'reference.json'),
        lambda c: c['annotations'].append(
            dict(two_polygons, segmentation=[VALID_SQUARE])))
    return dict(root=root, clean=clean, bad=bad, reference=reference)


def _det_cfg(files, ann_file, **kwargs):
    return dict(ann_file=ann_file, metainfo=dict(classes=CLASSES),
                data_prefix=dict(img=osp.join(files['root'], 'train2017')),
                pipeline=[], **kwargs)


def test_det_counts_each_reason(det_files):
    dataset = CheckedCocoDataset(**_det_cfg(det_files, det_files['bad']))
    assert dataset.skipped_annotations == {
        'box outside the image': 1,
        'degenerate box': 1,
        'degenerate polygon': 2,
        'degenerate polygon part': 1,
    }
    assert dataset.skipped_examples['degenerate polygon'] == [
        'ann 103 in 000000000002.jpg', 'ann 105 in 000000000003.jpg']
    with open(det_files['clean']) as f:
        num_clean = len(json.load(f)['annotations'])
    assert dataset.num_annotations == num_clean + 5


def test_det_logs_one_warning(det_files, warnings_logged):
    CheckedCocoDataset(**_det_cfg(det_files, det_files['bad']))
    messages = [m for m in warnings_logged() if 'bad.json' in m]
    with open(det_files['clean']) as f:
        total = len(json.load(f)['annotations']) + 5
    assert messages == [
        f'{det_files["bad"]}: skipped 4 of {total} annotations: '
        '1 box outside the image (ann 101 in 000000000001.jpg), '
        '1 degenerate box (ann 102 in 000000000001.jpg), '
        '2 degenerate polygon (ann 103 in 000000000002.jpg, '
        'ann 105 in 000000000003.jpg); '
        'removed degenerate polygon parts from 1 kept annotation '
        '(ann 104 in 000000000002.jpg)'
    ]


def test_det_data_list_is_mmdets_for_the_valid_annotations(det_files):
    checked = CheckedCocoDataset(**_det_cfg(det_files, det_files['bad']))
    reference = CocoDataset(**_det_cfg(det_files, det_files['reference']))
    _assert_same(_data(checked), _data(reference))
    # mmdet alone keeps the degenerate polygons (ann 103, 104, 105).
    unchecked = CocoDataset(**_det_cfg(det_files, det_files['bad']))
    assert sum(len(d['instances']) for d in _data(unchecked)) == \
        sum(len(d['instances']) for d in _data(reference)) + 2


def test_det_clean_file_is_mmdets_without_warning(det_files,
                                                  warnings_logged):
    checked = CheckedCocoDataset(**_det_cfg(det_files, det_files['clean']))
    assert not checked.skipped_annotations
    assert warnings_logged() == []
    _assert_same(_data(checked),
                 _data(CocoDataset(**_det_cfg(det_files,
                                              det_files['clean']))))


def test_det_builds_from_mmdet_registry_lazily(det_files):
    dataset = MMDET_DATASETS.build(dict(
        type='mogavision.CheckedCocoDataset', lazy_init=True,
        **_det_cfg(det_files, det_files['bad'])))
    assert isinstance(dataset, CheckedCocoDataset)
    assert not dataset.skipped_annotations
    dataset.full_init()
    assert dataset.skipped_annotations['box outside the image'] == 1
    assert MMDET_DATASETS.get('CheckedCocoDataset') is CheckedCocoDataset


# ---------------------------------------------------------------- pose ---

def _person(ann_id, image_id, bbox):
    x, y, w, h = bbox
    return _ann(ann_id, image_id, bbox, num_keypoints=17,
                keypoints=[v for k in range(17)
                           for v in (x + 1. + k, y + 2. * k + 1., 2)],
                segmentation=[[x, y, x + w, y, x + w, y + h, x, y + h]])


@pytest.fixture(scope='module')
def pose_files(tmp_path_factory):
    """The clean synthetic file and the file with malformed boxes added
    (images are 192 wide, 256 high)."""
    root = str(tmp_path_factory.mktemp('coco_pose'))
    clean = write_coco_keypoints(root, splits={'train2017': 3})['train2017']
    bad_anns = [_person(201, 1, [300., 10., 50., 80.]),
                _person(202, 2, [10., 10., 0.5, 80.]),
                _person(203, 3, [-100., 10., 50., 80.])]
    bad = _edit_json(clean, osp.join(root, 'annotations', 'bad.json'),
                     lambda c: c['annotations'].extend(bad_anns))
    return dict(root=root, clean=clean, bad=bad)


def _pose_cfg(files, ann_file, **kwargs):
    return dict(ann_file=ann_file,
                data_prefix=dict(img=osp.join(files['root'], 'train2017')),
                pipeline=[], **kwargs)


def test_mmpose_alone_loses_or_keeps_these_boxes_silently(pose_files):
    """What the checks guard against: mmpose drops the outside boxes in
    top-down mode, keeps the sub-pixel one and keeps the outside ones as
    zero-size instances in bottom-up mode."""
    topdown = CocoPoseDataset(**_pose_cfg(pose_files, pose_files['bad']))
    assert {d['id'] for d in _data(topdown)} >= {202}
    assert not {d['id'] for d in _data(topdown)} & {201, 203}
    bottomup = CocoPoseDataset(**_pose_cfg(pose_files, pose_files['bad'],
                                           data_mode='bottomup'))
    boxes = {i: box for d in _data(bottomup)
             for i, box in zip(d['id'], d['bbox'])}
    assert boxes[201][2] - boxes[201][0] == 0
    assert boxes[203][2] - boxes[203][0] == 0


def test_pose_counts_and_logs_one_warning(pose_files, warnings_logged):
    dataset = CheckedCocoPoseDataset(**_pose_cfg(pose_files,
                                                 pose_files['bad']))
    assert dataset.skipped_annotations == {'box outside the image': 2,
                                           'degenerate box': 1}
    with open(pose_files['clean']) as f:
        total = len(json.load(f)['annotations']) + 3
    assert dataset.num_annotations == total
    messages = [m for m in warnings_logged() if 'bad.json' in m]
    assert messages == [
        f'{pose_files["bad"]}: skipped 3 of {total} annotations: '
        '2 box outside the image (ann 201 in 000000000001.jpg, '
        'ann 203 in 000000000003.jpg), '
        '1 degenerate box (ann 202 in 000000000002.jpg)'
    ]


@pytest.mark.parametrize('data_mode', ['topdown', 'bottomup'])
def test_pose_data_list_is_mmposes_for_the_valid_annotations(
        pose_files, data_mode):
    checked = CheckedCocoPoseDataset(**_pose_cfg(
        pose_files, pose_files['bad'], data_mode=data_mode))
    reference = CocoPoseDataset(**_pose_cfg(
        pose_files, pose_files['clean'], data_mode=data_mode))
    _assert_same(_data(checked), _data(reference))


def test_pose_clean_file_is_mmposes_without_warning(pose_files,
                                                    warnings_logged):
    checked = CheckedCocoPoseDataset(**_pose_cfg(pose_files,
                                                 pose_files['clean']))
    assert not checked.skipped_annotations
    assert warnings_logged() == []
    _assert_same(_data(checked),
                 _data(CocoPoseDataset(**_pose_cfg(pose_files,
                                                   pose_files['clean']))))


def test_pose_builds_from_mmpose_registry(pose_files):
    dataset = MMPOSE_DATASETS.build(dict(
        type='mogavision.CheckedCocoPoseDataset',
        **_pose_cfg(pose_files, pose_files['bad'])))
    assert isinstance(dataset, CheckedCocoPoseDataset)
    assert dataset.skipped_annotations['degenerate box'] == 1
    assert MMPOSE_DATASETS.get('CheckedCocoPoseDataset') is \
        CheckedCocoPoseDataset
