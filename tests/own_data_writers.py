"""Small datasets in the formats users bring (not the synthetic generators'
layouts): Pascal-VOC XML, segmentation folders with their own suffixes, a
5-keypoint COCO keypoints json, class folders and a 2-class COCO json. The
images are crops of the legacy photographs with coloured objects painted
on them, so that each annotation is what the picture shows."""
import glob
import json
import os
import os.path as osp
import shutil
from typing import Dict, List

import cv2
import numpy as np

from mogavision.datasets.synthetic import write_coco_instances

PHOTOS = sorted(glob.glob(osp.join(osp.dirname(__file__), 'data', 'legacy',
                                   'images', '*.png')))
SIZE = (128, 96)  # width, height of every image written


def photo(index: int, size=SIZE) -> np.ndarray:
    """A BGR photograph (cycled by index), resized to ``size``."""
    image = cv2.imread(PHOTOS[index % len(PHOTOS)], cv2.IMREAD_COLOR)
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _write(path: str, image: np.ndarray):
    os.makedirs(osp.dirname(path), exist_ok=True)
    assert cv2.imwrite(path, image), path


def write_voc(root: str, splits: Dict[str, int] = {'train': 3, 'val': 2},
              classes=('building', ), other='tree') -> Dict[str, List[str]]:
    """``root/JPEGImages/<id>.jpg``, ``root/Annotations/<id>.xml`` (VOC's
    1-based pixel boxes) and ``root/ImageSets/Main/<split>.txt``; each image
    has one object of each class and one named ``other`` (not a class)."""
    ids = {}
    n = 0
    for split, count in splits.items():
        ids[split] = []
        for _ in range(count):
            image_id = f'{n:06d}'
            image = photo(n)
            objects = []
            for k, name in enumerate(list(classes) + [other]):
                x1, y1 = 10 + 50 * k, 20 + 5 * (n % 3)
                x2, y2 = x1 + 36, y1 + 44
                image[y1:y2, x1:x2] = (40 + 90 * k, 200, 255 - 60 * k)
                objects.append(
                    f'<object><name>{name}</name><difficult>0</difficult>'
                    f'<bndbox><xmin>{x1 + 1}</xmin><ymin>{y1 + 1}</ymin>'
                    f'<xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>')
            _write(osp.join(root, 'JPEGImages', f'{image_id}.jpg'), image)
            os.makedirs(osp.join(root, 'Annotations'), exist_ok=True)
            with open(osp.join(root, 'Annotations', f'{image_id}.xml'),
                      'w') as f:
                f.write(f'<annotation><filename>{image_id}.jpg</filename>'
                        f'<size><width>{SIZE[0]}</width><height>{SIZE[1]}'
                        '</height><depth>3</depth></size>' +
                        ''.join(objects) + '</annotation>')
            ids[split].append(image_id)
            n += 1
        os.makedirs(osp.join(root, 'ImageSets', 'Main'), exist_ok=True)
        with open(osp.join(root, 'ImageSets', 'Main', f'{split}.txt'),
                  'w') as f:
            f.write('\n'.join(ids[split]) + '\n')
    return ids


def write_seg_folders(root: str, splits: Dict[str, int] = {'train': 2,
                                                          'val': 2},
                      img_suffix='.jpg', seg_map_suffix='_mask.png',
                      num_classes: int = 3, ignore_value: int = 255):
    """``root/img_dir/<split>/<name><img_suffix>`` photographs with
    ``root/ann_dir/<split>/<name><seg_map_suffix>`` label maps: class 0
    elsewhere, a band of class 1 and a square of class 2 painted on the
    image, and an ``ignore_value`` border."""
    n = 0
    for split, count in splits.items():
        for _ in range(count):
            image = photo(n)
            labels = np.zeros(image.shape[:2], np.uint8)
            labels[60:80, :] = 1
            image[60:80, :] = (128, 64, 128)
            x = 10 + 20 * n
            labels[10:40, x:x + 30] = num_classes - 1
            image[10:40, x:x + 30] = (142, 0, 0)
            labels[:2, :] = ignore_value
            _write(osp.join(root, 'img_dir', split, f'{n:04d}{img_suffix}'),
                   image)
            _write(osp.join(root, 'ann_dir', split,
                            f'{n:04d}{seg_map_suffix}'), labels)
            n += 1


#: The 5 keypoints of configs/pose/own_data/my_keypoints.py in a unit box.
FACE_LAYOUT = np.array([[.5, .55], [.35, .4], [.65, .4], [.15, .45],
                        [.85, .45]])


def write_face_keypoints(root: str, splits: Dict[str, int] = {'train': 2,
                                                             'val': 2}):
    """COCO keypoints json with 5 keypoints an object (``root/annotations/
    <split>.json``, images ``root/<split>/*.jpg``): one face-like object an
    image, its keypoints painted as dots."""
    n = 0
    for split, count in splits.items():
        images, annotations = [], []
        for _ in range(count):
            image = photo(n)
            x, y, w, h = 30 + 4 * n, 14, 64, 72
            keypoints = []
            for kx, ky in FACE_LAYOUT:
                px, py = x + kx * w, y + ky * h
                cv2.circle(image, (int(px), int(py)), 3, (0, 255, 255), -1)
                keypoints += [float(px), float(py), 2]
            file_name = f'{n:04d}.jpg'
            _write(osp.join(root, split, file_name), image)
            images.append(dict(id=n + 1, file_name=file_name, width=SIZE[0],
                               height=SIZE[1]))
            annotations.append(dict(
                id=n + 1, image_id=n + 1, category_id=1, iscrowd=0,
                bbox=[x, y, w, h], area=float(w * h), keypoints=keypoints,
                num_keypoints=5))
            n += 1
        os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
        with open(osp.join(root, 'annotations', f'{split}.json'), 'w') as f:
            json.dump(dict(images=images, annotations=annotations,
                           categories=[dict(id=1, name='face')]), f)


def write_class_folders(root: str, classes=('cat', 'person', 'rocket'),
                        splits: Dict[str, int] = {'train': 2, 'val': 1}):
    """``root/<split>/<class>/*.jpg``: each class its own photograph,
    shifted a little per image."""
    for split, count in splits.items():
        for k, name in enumerate(classes):
            for i in range(count):
                image = np.roll(photo(k, (64, 64)), 3 * i, axis=1)
                _write(osp.join(root, split, name, f'{split}_{i}.jpg'), image)


def write_coco_two_classes(root: str, classes=('balloon', 'kite')):
    """A 2-class COCO json of polygons (``root/annotations/{train,val}.json``,
    images ``root/{train,val}/``) listing only its own categories."""
    files = write_coco_instances(root, splits={'train': 2, 'val': 2},
                                 classes=classes, all_coco_categories=False,
                                 image_size=SIZE)
    for split, path in files.items():
        shutil.move(path, osp.join(osp.dirname(path), f'{split}.json'))
