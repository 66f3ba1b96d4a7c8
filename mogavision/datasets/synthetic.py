# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Small synthetic datasets written in the real on-disk formats (COCO
instances, COCO keypoints + person detections, ADE20K folders, ImageNet
folders), for the tests and the built-in demo. Nothing is downloaded.

Each writer draws simple, learnable scenes (class = colour and shape) with a
seeded generator, so the same call writes the same files.
"""
import json
import os
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple

import cv2
import numpy as np

#: Distinct BGR colours per synthetic class.
PALETTE = [(40, 40, 220), (40, 200, 40), (220, 60, 40), (30, 200, 230),
           (200, 40, 200), (220, 220, 40), (130, 130, 130), (20, 100, 180)]

COCO_PERSON_KEYPOINTS = [
    'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear',
    'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow',
    'left_wrist', 'right_wrist', 'left_hip', 'right_hip', 'left_knee',
    'right_knee', 'left_ankle', 'right_ankle'
]
COCO_SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12],
                 [7, 13], [6, 7], [6, 8], [7, 9], [8, 10], [9, 11], [2, 3],
                 [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]
# Offsets of the 17 keypoints in a unit person box (x, y in [0, 1]).
_KEYPOINT_LAYOUT = np.array(
    [[.5, .08], [.45, .05], [.55, .05], [.4, .07], [.6, .07], [.3, .25],
     [.7, .25], [.22, .42], [.78, .42], [.18, .58], [.82, .58], [.38, .58],
     [.62, .58], [.36, .78], [.64, .78], [.35, .96], [.65, .96]])


def _background(rng, height, width):
    base = rng.integers(0, 60, size=3)
    noise = rng.integers(0, 25, size=(height, width, 3))
    return np.clip(noise + base, 0, 255).astype(np.uint8)


def _polygon(rng, x, y, w, h, shape: int) -> np.ndarray:
    """Polygon (N, 2) of a rectangle, ellipse or triangle inside a box."""
    if shape == 0:
        pts = [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]
    elif shape == 1:
        t = np.linspace(0, 2 * np.pi, 16, endpoint=False)
        pts = np.stack([x + w / 2 + w / 2 * np.cos(t),
                        y + h / 2 + h / 2 * np.sin(t)], 1)
    else:
        pts = [[x + w / 2, y], [x + w, y + h], [x, y + h]]
    return np.asarray(pts, dtype=np.float32)


def _write_image(path: str, image: np.ndarray):
    os.makedirs(osp.dirname(path), exist_ok=True)
    if not cv2.imwrite(path, image):
        raise OSError(f'Could not write image {path}')


def _dump_json(path: str, obj):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(obj, f)


#: Shapes that ``write_coco_instances`` draws, and the ``_polygon`` of each:
#: a square and a circle are a rectangle and an ellipse with equal sides.
SHAPES = {'rectangle': 0, 'ellipse': 1, 'triangle': 2, 'square': 0,
          'circle': 1}
_EQUAL_SIDES = ('square', 'circle')
#: Tries to place an object clear of the others (``overlap=False``).
_PLACEMENT_TRIES = 50


def _check_shapes(shapes, classes):
    if len(shapes) != len(classes):
        raise ValueError(f'shapes has {len(shapes)} entries for '
                         f'{len(classes)} classes {tuple(classes)}; give one '
                         'shape per class.')
    unknown = [s for s in shapes if s not in SHAPES]
    if unknown:
        raise ValueError(f'Unknown shapes {unknown}; valid shapes are '
                         f'{tuple(SHAPES)}.')


def _clear_of(box, boxes, margin: float) -> bool:
    x, y, w, h = box
    return all(x + w + margin <= bx or bx + bw + margin <= x or
               y + h + margin <= by or by + bh + margin <= y
               for bx, by, bw, bh in boxes)


def write_coco_instances(root: str,
                         splits: Dict[str, int] = {'train2017': 4,
                                                   'val2017': 2},
                         image_size: Tuple[int, int] = (160, 128),
                         classes: Sequence[str] = ('person', 'bicycle',
                                                   'car'),
                         max_objects: int = 3,
                         seed: int = 0,
                         all_coco_categories: bool = True,
                         shapes: Optional[Sequence[str]] = None,
                         overlap: bool = True) -> Dict[str, str]:
    """COCO instances layout: ``root/<split>/*.jpg`` and
    ``root/annotations/instances_<split>.json`` with boxes and polygons.

    Class ``k`` is drawn in colour ``PALETTE[k]`` with shape ``shapes[k]``
    (default: rectangle, ellipse or triangle for ``k % 3``). Category ids
    are the COCO ids of ``classes`` when they are COCO names, else 81, 82,
    ... (the class names must be ones the config's dataset knows).

    Like the real files, the annotation files list all 80 COCO categories
    (``all_coco_categories``), so an unmodified 80-class COCO config can be
    evaluated: ``CocoMetric`` maps labels to the listed categories and fails
    on a label it cannot map. Objects are drawn from ``classes`` only.

    Args:
        shapes (Sequence[str], optional): The shape of each class, from
            ``SHAPES``; squares and circles have equal sides.
        overlap (bool): Whether objects may overlap. Where they do, the
            later one hides part of the earlier one, whose annotation still
            covers its whole shape. With ``False`` each object is placed
            clear of the others (an object that finds no free place in
            ``_PLACEMENT_TRIES`` tries is left out), so every annotation is
            exactly what the image shows.

    Returns:
        dict: split -> annotation file path.
    """
    from mmdet.datasets import CocoDataset
    coco_names = list(CocoDataset.METAINFO['classes'])
    if shapes is not None:
        _check_shapes(shapes, classes)
    rng = np.random.default_rng(seed)
    width, height = image_size
    listed = list(classes)
    if all_coco_categories:
        listed = coco_names + [c for c in classes if c not in coco_names]
    categories = [{'id': coco_names.index(c) + 1 if c in coco_names
                   else len(coco_names) + k + 1,
                   'name': c, 'supercategory': 'thing'}
                  for k, c in enumerate(listed)]
    category_id = {c['name']: c['id'] for c in categories}
    ann_files, image_id, ann_id = {}, 0, 0
    for split, num_images in splits.items():
        images, annotations = [], []
        for _ in range(num_images):
            image_id += 1
            image = _background(rng, height, width)
            placed = []
            for _ in range(int(rng.integers(1, max_objects + 1))):
                k = int(rng.integers(len(classes)))
                shape = k % 3 if shapes is None else SHAPES[shapes[k]]
                w = float(rng.uniform(0.2, 0.45) * width)
                h = float(rng.uniform(0.2, 0.45) * height)
                if shapes is not None and shapes[k] in _EQUAL_SIDES:
                    w = h = min((w * h)**0.5, width, height)
                for _try in range(1 if overlap else _PLACEMENT_TRIES):
                    x = float(rng.uniform(0, width - w))
                    y = float(rng.uniform(0, height - h))
                    if overlap or _clear_of((x, y, w, h), placed, 2.):
                        break
                else:
                    continue
                placed.append((x, y, w, h))
                poly = _polygon(rng, x, y, w, h, shape)
                cv2.fillPoly(image, [poly.round().astype(np.int32)],
                             PALETTE[k % len(PALETTE)])
                ann_id += 1
                x0, y0 = poly.min(0)
                x1, y1 = poly.max(0)
                annotations.append({
                    'id': ann_id, 'image_id': image_id,
                    'category_id': category_id[classes[k]],
                    'bbox': [float(x0), float(y0), float(x1 - x0),
                             float(y1 - y0)],
                    'area': float(cv2.contourArea(poly)),
                    'segmentation': [poly.flatten().tolist()],
                    'iscrowd': 0
                })
            file_name = f'{image_id:012d}.jpg'
            _write_image(osp.join(root, split, file_name), image)
            images.append({'id': image_id, 'file_name': file_name,
                           'width': width, 'height': height})
        ann_file = osp.join(root, 'annotations', f'instances_{split}.json')
        _dump_json(ann_file, {'images': images, 'annotations': annotations,
                              'categories': categories})
        ann_files[split] = ann_file
    return ann_files


def write_coco_keypoints(root: str,
                         splits: Dict[str, int] = {'train2017': 4,
                                                   'val2017': 2},
                         image_size: Tuple[int, int] = (192, 256),
                         max_people: int = 2,
                         seed: int = 0) -> Dict[str, str]:
    """COCO keypoints layout: ``root/<split>/*.jpg``,
    ``root/annotations/person_keypoints_<split>.json`` (17 keypoints with
    visibilities) and ``root/person_detection_results/
    COCO_<split>_detections_AP_H_56_person.json`` (boxes with scores).

    Returns:
        dict: split -> annotation file path (and ``'<split>_dets'`` ->
        detections file).
    """
    rng = np.random.default_rng(seed)
    width, height = image_size
    categories = [{'id': 1, 'name': 'person', 'supercategory': 'person',
                   'keypoints': COCO_PERSON_KEYPOINTS,
                   'skeleton': COCO_SKELETON}]
    files, image_id, ann_id = {}, 0, 0
    for split, num_images in splits.items():
        images, annotations, detections = [], [], []
        for _ in range(num_images):
            image_id += 1
            image = _background(rng, height, width)
            for _ in range(int(rng.integers(1, max_people + 1))):
                w = float(rng.uniform(0.3, 0.5) * width)
                h = float(rng.uniform(0.5, 0.8) * height)
                x = float(rng.uniform(0, width - w))
                y = float(rng.uniform(0, height - h))
                points = _KEYPOINT_LAYOUT * [w, h] + [x, y]
                visible = rng.random(17) > 0.15
                for a, b in COCO_SKELETON:
                    cv2.line(image, tuple(points[a - 1].astype(int)),
                             tuple(points[b - 1].astype(int)), (200, 200, 200),
                             2)
                for j, (px, py) in enumerate(points):
                    if visible[j]:
                        cv2.circle(image, (int(px), int(py)), 3,
                                   PALETTE[j % len(PALETTE)], -1)
                keypoints = np.concatenate(
                    [points, np.where(visible, 2, 0)[:, None]], 1)
                keypoints[~visible, :2] = 0
                ann_id += 1
                annotations.append({
                    'id': ann_id, 'image_id': image_id, 'category_id': 1,
                    'bbox': [x, y, w, h], 'area': w * h, 'iscrowd': 0,
                    'num_keypoints': int(visible.sum()),
                    'keypoints': keypoints.flatten().tolist(),
                    'segmentation': [[x, y, x + w, y, x + w, y + h, x, y + h]]
                })
                jitter = rng.normal(0, 2, 4)
                detections.append({
                    'image_id': image_id, 'category_id': 1,
                    'bbox': [float(v) for v in np.array([x, y, w, h]) + jitter],
                    'score': float(rng.uniform(0.7, 1.0))
                })
            file_name = f'{image_id:012d}.jpg'
            _write_image(osp.join(root, split, file_name), image)
            images.append({'id': image_id, 'file_name': file_name,
                           'width': width, 'height': height})
        ann_file = osp.join(root, 'annotations',
                            f'person_keypoints_{split}.json')
        _dump_json(ann_file, {'images': images, 'annotations': annotations,
                              'categories': categories})
        det_file = osp.join(root, 'person_detection_results',
                            f'COCO_{split}_detections_AP_H_56_person.json')
        _dump_json(det_file, detections)
        files[split] = ann_file
        files[f'{split}_dets'] = det_file
    return files


def write_ade20k(root: str,
                 splits: Dict[str, int] = {'training': 4, 'validation': 2},
                 image_size: Tuple[int, int] = (96, 80),
                 num_classes: int = 150,
                 seed: int = 0) -> str:
    """ADE20K layout: ``root/images/<split>/*.jpg`` and
    ``root/annotations/<split>/*.png`` label maps (0 = other/ignored,
    1..150 = classes, i.e. before ``reduce_zero_label``).

    Returns:
        str: ``root``.
    """
    rng = np.random.default_rng(seed)
    width, height = image_size
    index = 0
    for split, num_images in splits.items():
        for _ in range(num_images):
            index += 1
            image = _background(rng, height, width)
            label = np.zeros((height, width), np.uint8)
            for _ in range(int(rng.integers(2, 5))):
                k = int(rng.integers(1, num_classes + 1))
                w = int(rng.uniform(0.2, 0.6) * width)
                h = int(rng.uniform(0.2, 0.6) * height)
                x, y = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
                poly = _polygon(rng, x, y, w, h, k % 3).round().astype(np.int32)
                cv2.fillPoly(image, [poly], PALETTE[k % len(PALETTE)])
                cv2.fillPoly(label, [poly], k)
            name = f'ADE_{split[:5]}_{index:08d}'
            _write_image(osp.join(root, 'images', split, name + '.jpg'), image)
            _write_image(osp.join(root, 'annotations', split, name + '.png'),
                         label)
    return root


def write_imagenet(root: str,
                   splits: Dict[str, int] = {'train': 8, 'val': 4},
                   num_classes: int = 4,
                   image_size: int = 64,
                   seed: int = 0) -> Dict[str, str]:
    """ImageNet layout: ``root/<split>/<wnid>/*.JPEG`` and
    ``root/meta/<split>.txt`` lines ``<wnid>/<file> <label>``, ``splits``
    giving images per class. Class ``k`` is a ``PALETTE[k]`` shape ``k % 3``
    at a random place and size, so the task is learnable.

    Returns:
        dict: split -> annotation file path.
    """
    rng = np.random.default_rng(seed)
    ann_files = {}
    for split, per_class in splits.items():
        lines = []
        for k in range(num_classes):
            wnid = f'n{k:08d}'
            for i in range(per_class):
                image = _background(rng, image_size, image_size)
                size = rng.uniform(0.35, 0.7) * image_size
                x, y = rng.uniform(0, image_size - size, 2)
                poly = _polygon(rng, x, y, size, size, k % 3)
                cv2.fillPoly(image, [poly.round().astype(np.int32)],
                             PALETTE[k % len(PALETTE)])
                rel = f'{wnid}/{split}_{k}_{i}.JPEG'
                _write_image(osp.join(root, split, rel), image)
                lines.append(f'{rel} {k}')
        ann_file = osp.join(root, 'meta', f'{split}.txt')
        os.makedirs(osp.dirname(ann_file), exist_ok=True)
        with open(ann_file, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        ann_files[split] = ann_file
    return ann_files
