"""Each mistake of the agreement checks made once, with the message that
names the key and the fix; and the configs users copy pass them."""
import glob
import json
import os.path as osp

import cv2
import numpy as np
import pytest
from mmengine.config import Config
from conftest import REPO_ROOT
from mmengine.registry import DATASETS, init_default_scope
from own_data_writers import (write_class_folders, write_coco_two_classes,
                              write_face_keypoints, write_seg_folders)

from mogavision.datasets.agreement import (DataAgreementError,
                                           check_built_dataset,
                                           check_config_agreement,
                                           head_class_counts)

OWN = osp.join(REPO_ROOT, 'configs', '{}', 'own_data', '{}.py')


def own_config(task: str, name: str) -> Config:
    return Config.fromfile(OWN.format(task, name))


@pytest.mark.parametrize('path', sorted(
    glob.glob(osp.join(REPO_ROOT, 'configs', '*', '*.py')) +
    glob.glob(osp.join(REPO_ROOT, 'configs', '*', 'own_data', '*_*.py')) +
    glob.glob(osp.join(REPO_ROOT, 'tests', 'data', 'configs', '*.py'))))
def test_shipped_configs_agree(path):
    if osp.basename(path) == 'my_keypoints.py':
        return
    check_config_agreement(Config.fromfile(path, import_custom_modules=False))


def test_every_head_that_disagrees_is_named_with_its_fix():
    cfg = Config.fromfile(osp.join(
        REPO_ROOT, 'configs/det/cascade_mask_rcnn_moganet_s_ms_3x.py'))
    cfg.train_dataloader.dataset.metainfo = dict(classes=('a', 'b'))
    with pytest.raises(DataAgreementError) as info:
        check_config_agreement(cfg)
    message = str(info.value)
    for stage in range(3):
        assert f'model.roi_head.bbox_head.{stage}.num_classes=80' in message
    assert 'model.roi_head.mask_head.num_classes=80' in message
    assert 'rpn_head' not in message
    assert ("train_dataloader.dataset.metainfo has 2 classes ('a', 'b')"
            in message)
    assert '--cfg-options model.roi_head.bbox_head.0.num_classes=2' in message


def test_missing_metainfo_names_the_default_it_fell_back_to():
    cfg = own_config('det', 'mask_rcnn_moganet_xt_coco')
    del cfg.train_dataloader.dataset['metainfo']
    with pytest.raises(DataAgreementError,
                       match=r'but train_dataloader\.dataset has 80 classes '
                       r'.*, the default METAINFO of CocoDataset: set '
                       r'train_dataloader\.dataset\.metainfo=dict\(classes='
                       r'\(\.\.\.\)\)'):
        check_config_agreement(cfg)


def test_seg_auxiliary_head_and_cls_mixup_labels_are_checked():
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs/seg/upernet_moganet_xt.py'))
    cfg.model.decode_head.num_classes = 3
    assert ('model.auxiliary_head.num_classes', 150) in head_class_counts(cfg)
    with pytest.raises(DataAgreementError, match='auxiliary_head'):
        check_config_agreement(cfg.merge_from_dict(
            {'train_dataloader.dataset.metainfo':
             dict(classes=('a', 'b', 'c'))}) or cfg)
    cfg = own_config('cls', 'moganet_xt_224_folders')
    cfg.data_preprocessor.num_classes = 1000
    assert ('data_preprocessor.num_classes', 1000) in head_class_counts(cfg)


@pytest.mark.parametrize('change,message', [
    (lambda cfg, info: cfg.model.head.update(out_channels=17),
     r'model\.head\.out_channels=17, but train_dataloader\.dataset has 5 '
     r'keypoints .*set model\.head\.out_channels=5'),
    (lambda cfg, info: info['keypoint_info'][3].update(swap='right_eye'),
     r"keypoint 'left_ear' swaps with 'right_eye' but 'right_eye' swaps with "
     r"'left_eye': flip pairs must be mutual"),
    (lambda cfg, info: info['keypoint_info'][1].update(swap='left_pupil'),
     r"swaps with 'left_pupil', which is no keypoint name"),
    (lambda cfg, info: info.update(sigmas=info['sigmas'][:4]),
     r'sigmas has 4 values for 5 keypoints'),
])
def test_pose_keypoint_mistakes(tmp_path, change, message):
    cfg = own_config('pose', 'topdown_heatmap_moganet_xt_256x192_my-keypoints')
    info = Config.fromfile(OWN.format('pose', 'my_keypoints')).dataset_info
    info = info.to_dict()
    change(cfg, info)
    path = tmp_path / 'keypoints.py'
    path.write_text(f'dataset_info = {info!r}\n')
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.metainfo = dict(
            from_file=str(path))
    with pytest.raises(DataAgreementError, match=message):
        check_config_agreement(cfg)


# ---------------------------------------------------------------------------
# Built datasets


def build(cfg: Config, split: str = 'train', **dataset_options):
    init_default_scope(cfg.default_scope)
    from mogavision.engine.runtime import use_checked_data_loading
    from mogavision.config import task_of
    use_checked_data_loading(cfg, task_of(cfg))
    dataset_cfg = cfg[f'{split}_dataloader'].dataset
    dataset_cfg.update(dataset_options)
    return DATASETS.build(dataset_cfg)


@pytest.fixture(scope='module')
def coco_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('my_coco')) + '/'
    write_coco_two_classes(root)
    return root


def test_coco_class_name_that_is_no_category(coco_root):
    cfg = own_config('det', 'mask_rcnn_moganet_xt_coco')
    with pytest.raises(DataAgreementError,
                       match=r"metainfo classes \['Kite'\] are no category "
                       r"name of this file \(its categories: \['balloon', "
                       r"'kite'\]\)"):
        build(cfg, data_root=coco_root,
              metainfo=dict(classes=('balloon', 'Kite')))


def test_coco_category_id_that_maps_to_no_category(coco_root, tmp_path):
    with open(osp.join(coco_root, 'annotations', 'train.json')) as f:
        coco = json.load(f)
    coco['annotations'][0]['category_id'] = 77
    ann = tmp_path / 'broken.json'
    ann.write_text(json.dumps(coco))
    cfg = own_config('det', 'mask_rcnn_moganet_xt_coco')
    with pytest.raises(DataAgreementError,
                       match=r'1 annotations have category ids \[77\] that '
                       r'map to no category'):
        build(cfg, data_root=coco_root, ann_file=str(ann))


def test_coco_subset_of_categories_is_a_warning(coco_root, caplog_mm):
    cfg = own_config('det', 'mask_rcnn_moganet_xt_coco')
    cfg.model.roi_head.bbox_head.num_classes = 1
    cfg.model.roi_head.mask_head.num_classes = 1
    dataset = build(cfg, data_root=coco_root,
                    metainfo=dict(classes=('balloon', )))
    check_built_dataset(dataset, 'train', cfg)
    assert "categories that are not in metainfo.classes are not used " \
        "({'kite':" in caplog_mm.text


def test_dataset_emptied_by_its_filter_names_the_filter(coco_root, tmp_path):
    with open(osp.join(coco_root, 'annotations', 'train.json')) as f:
        coco = json.load(f)
    coco['annotations'] = []
    ann = tmp_path / 'no_annotations.json'
    ann.write_text(json.dumps(coco))
    cfg = own_config('det', 'mask_rcnn_moganet_xt_coco')
    with pytest.raises(DataAgreementError,
                       match=r"The dataset is empty .*no_annotations\.json.*"
                       r"2 samples were read, and filter_cfg=\{'filter_empty"
                       r"_gt': True, 'min_size': 32\} removed every one"):
        build(cfg, data_root=coco_root, ann_file=str(ann))


def test_seg_folders_with_the_wrong_suffixes_are_refused(tmp_path):
    root = str(tmp_path / 'my_seg')
    write_seg_folders(root)
    cfg = own_config('seg', 'semantic_fpn_moganet_xt_folders')
    with pytest.raises(DataAgreementError,
                       match=r'The dataset is empty \(CheckedSegDataset.*'
                       r'no samples were found there'):
        build(cfg, data_root=root, img_suffix='.png')
    cfg = own_config('seg', 'semantic_fpn_moganet_xt_folders')
    dataset = build(cfg, data_root=root)  # the maps are *_mask.png
    with pytest.raises(DataAgreementError,
                       match=r"2 of 2 label maps checked do not exist \(first:"
                       r" .*0000\.png\).*seg_map_suffix='\.png'"):
        check_built_dataset(dataset, 'train', cfg)


def test_label_values_past_the_classes(tmp_path):
    root = str(tmp_path / 'my_seg')
    write_seg_folders(root, num_classes=4)  # class 3 on a 3-class config
    cfg = own_config('seg', 'semantic_fpn_moganet_xt_folders')
    dataset = build(cfg, data_root=root, seg_map_suffix='_mask.png')
    with pytest.raises(DataAgreementError,
                       match=r'2 label maps hold values outside 0\.\.2 that '
                       r'are not the ignore index 255 \(.*_mask\.png: \[3\]'
                       r'.*reduce_zero_label \(now False\)'):
        check_built_dataset(dataset, 'train', cfg)
    write_seg_folders(root, num_classes=3)
    check_built_dataset(build(cfg, data_root=root,
                              seg_map_suffix='_mask.png'), 'train', cfg)


def test_class_folders_other_than_num_classes(tmp_path):
    root = str(tmp_path / 'my_images')
    write_class_folders(root, classes=('a', 'b'))
    cfg = own_config('cls', 'moganet_xt_224_folders')
    dataset = build(cfg, data_root=root)
    with pytest.raises(DataAgreementError,
                       match=r"model\.head\.num_classes=3, data_preprocessor"
                       r"\.num_classes=3, but train_dataloader\.dataset "
                       r"\(CheckedCustomDataset\) has 2 classes \('a', 'b'\)"):
        check_built_dataset(dataset, 'train', cfg)


def test_pose_annotation_with_another_keypoint_count(tmp_path):
    root = str(tmp_path / 'my_pose')
    write_face_keypoints(root)
    path = osp.join(root, 'annotations', 'train.json')
    with open(path) as f:
        coco = json.load(f)
    coco['annotations'][1]['keypoints'] += [1., 1., 2]
    with open(path, 'w') as f:
        json.dump(coco, f)
    cfg = own_config('pose', 'topdown_heatmap_moganet_xt_256x192_my-keypoints')
    with pytest.raises(DataAgreementError,
                       match=r'train\.json: annotation 2 \(image 0001\.jpg\) '
                       r'has 18 keypoint values, 6 keypoints, but the '
                       r"dataset's metainfo has 5"):
        build(cfg, data_root=root + '/')


def test_browse_draws_each_task(tmp_path):
    from mogavision.datasets.browse import browse_dataset
    root = str(tmp_path / 'my_seg')
    write_seg_folders(root)
    cfg = own_config('seg', 'semantic_fpn_moganet_xt_folders')
    cfg.train_dataloader.dataset.update(data_root=root,
                                        seg_map_suffix='_mask.png')
    written = browse_dataset(cfg, 'train', str(tmp_path / 'seg'), num=1)
    assert len(written) == 1 and cv2.imread(written[0]).shape[2] == 3
    root = str(tmp_path / 'my_pose')
    write_face_keypoints(root)
    cfg = own_config('pose', 'topdown_heatmap_moganet_xt_256x192_my-keypoints')
    cfg.train_dataloader.dataset.data_root = root + '/'
    written = browse_dataset(cfg, 'train', str(tmp_path / 'pose'), num=1)
    image = cv2.imread(written[0])
    assert image.shape[:2][0] >= 256
    root = str(tmp_path / 'my_images')
    write_class_folders(root)
    cfg = own_config('cls', 'moganet_xt_224_folders')
    cfg.val_dataloader.dataset.data_root = root
    written = browse_dataset(cfg, 'val', str(tmp_path / 'cls'), num=2)
    assert len(written) == 2
    assert not np.array_equal(cv2.imread(written[0]), cv2.imread(written[1]))
