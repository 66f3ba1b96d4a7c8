# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""COCO datasets that skip malformed annotations with a warning.

mmdet's ``CocoDataset`` drops boxes that miss the image or are smaller than a
pixel without a word, and its ``LoadAnnotations`` drops polygons with fewer
than three points; mmpose's ``CocoDataset`` clips a box to the image, so a box
outside it becomes zero-sized and is then dropped (top-down) or kept as a
zero-size instance (bottom-up), again silently. The datasets here drop such
annotations before the toolbox sees them, count them per reason and log one
warning per annotation file, so a broken annotation file is never a silent
wrong result. Valid annotations are parsed by the toolbox unchanged.
"""
import logging
from collections import Counter, defaultdict
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmdet.datasets import CocoDataset
from mmengine.logging import print_log
from mmpose.datasets import CocoDataset as CocoPoseDataset

from mogavision.datasets.agreement import DataAgreementError
from mogavision.datasets.non_empty import NonEmptyMixin
from mogavision.registry import DATASETS, register_in_toolboxes

BOX_OUTSIDE_IMAGE = 'box outside the image'
DEGENERATE_BOX = 'degenerate box'
DEGENERATE_POLYGON = 'degenerate polygon'
#: Not a skip: a kept annotation that lost some of its polygons.
DEGENERATE_POLYGON_PART = 'degenerate polygon part'
#: The reasons an annotation is skipped for, in the warning's order.
SKIP_REASONS = (BOX_OUTSIDE_IMAGE, DEGENERATE_BOX, DEGENERATE_POLYGON)

#: Examples (annotation id and image file) the warning names per reason.
MAX_EXAMPLES = 3
# Collinear float coordinates give a shoelace area of ~1e-13, not exactly 0.
_MIN_POLYGON_AREA = 1e-6


def polygon_is_degenerate(polygon: Sequence[float]) -> bool:
    """Whether a COCO polygon ``[x1, y1, x2, y2, ...]`` encloses no area.

    Args:
        polygon (Sequence[float]): Flat polygon coordinates.

    Returns:
        bool: True for fewer than 3 points, an odd number of coordinates or
        zero area.
    """
    if len(polygon) % 2 or len(polygon) < 6:
        return True
    points = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    x, y = points[:, 0], points[:, 1]
    area = 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
    return area < _MIN_POLYGON_AREA


def box_overlaps_image(bbox: Sequence[float], width: int,
                       height: int) -> bool:
    """Whether a COCO box ``[x, y, w, h]`` overlaps the image, as mmdet's
    ``CocoDataset`` decides it.

    Args:
        bbox (Sequence[float]): The box.
        width (int): Image width.
        height (int): Image height.

    Returns:
        bool: True when the intersection has a positive area.
    """
    x, y, w, h = bbox
    inter_w = min(x + w, width) - max(x, 0)
    inter_h = min(y + h, height) - max(y, 0)
    return inter_w > 0 and inter_h > 0


def format_skip_warning(ann_file: str, num_annotations: int,
                        counts: Counter, examples: Dict[str, List[str]]
                        ) -> str:
    """The one-line warning about the annotations of a file.

    Args:
        ann_file (str): The annotation file.
        num_annotations (int): All annotations read from it.
        counts (Counter): Reason -> number of annotations.
        examples (dict[str, list[str]]): Reason -> the first examples, as
            ``'ann <id> in <image file>'``.

    Returns:
        str: E.g. ``'a.json: skipped 3 of 120 annotations: 2 box outside the
        image (ann 17 in 1.jpg, ann 18 in 2.jpg), 1 degenerate polygon (ann
        5 in 3.jpg)'``, with ``'; removed degenerate polygon parts from N
        kept annotations (...)'`` appended when polygons were trimmed.
    """

    def reason_text(reason, prefix):
        shown = examples[reason]
        more = ', ...' if counts[reason] > len(shown) else ''
        return f'{prefix} ({", ".join(shown)}{more})'

    skipped = [reason for reason in SKIP_REASONS if counts[reason]]
    num_skipped = sum(counts[reason] for reason in skipped)
    message = (f'{ann_file}: skipped {num_skipped} of {num_annotations} '
               'annotations')
    if skipped:
        message += ': ' + ', '.join(
            reason_text(reason, f'{counts[reason]} {reason}')
            for reason in skipped)
    num_trimmed = counts[DEGENERATE_POLYGON_PART]
    if num_trimmed:
        noun = 'annotation' if num_trimmed == 1 else 'annotations'
        message += '; ' + reason_text(
            DEGENERATE_POLYGON_PART,
            f'removed degenerate polygon parts from {num_trimmed} kept '
            f'{noun}')
    return message


class _SkippedAnnotationsMixin:
    """Counts the annotations a dataset skips and warns once per file.

    Attributes:
        skipped_annotations (Counter): Reason -> number of annotations, for
            the reasons ``BOX_OUTSIDE_IMAGE``, ``DEGENERATE_BOX``,
            ``DEGENERATE_POLYGON`` (skipped) and ``DEGENERATE_POLYGON_PART``
            (kept without their degenerate polygons).
        skipped_examples (dict[str, list[str]]): Reason -> the first
            ``MAX_EXAMPLES`` annotations, as ``'ann <id> in <image file>'``.
        num_annotations (int): Annotations read from ``ann_file``.
    """

    def __init__(self, *args, **kwargs):
        # Set before the annotations load, so they exist with lazy_init too.
        self._reset_skipped_annotations()
        super().__init__(*args, **kwargs)

    def _reset_skipped_annotations(self):
        self.skipped_annotations = Counter()
        self.skipped_examples = defaultdict(list)
        self.num_annotations = 0

    def _record_skip(self, reason: str, ann: dict, img_info: dict):
        self.skipped_annotations[reason] += 1
        examples = self.skipped_examples[reason]
        if len(examples) < MAX_EXAMPLES:
            examples.append(f'ann {ann.get("id")} in {img_info["file_name"]}')

    def load_data_list(self) -> List[dict]:
        """Load the data list as the toolbox does, counting the skipped
        annotations, and log one warning when there are any.

        Returns:
            list[dict]: The data list.
        """
        self._reset_skipped_annotations()
        data_list = super().load_data_list()
        if self.skipped_annotations:
            print_log(
                format_skip_warning(self.ann_file, self.num_annotations,
                                    self.skipped_annotations,
                                    self.skipped_examples),
                logger='current',
                level=logging.WARNING)
        return data_list


@DATASETS.register_module()
class CheckedCocoDataset(NonEmptyMixin, _SkippedAnnotationsMixin, CocoDataset):
    """mmdet's ``CocoDataset`` that skips malformed annotations with a
    warning instead of silently.

    An annotation is skipped when its box does not overlap the image
    (``BOX_OUTSIDE_IMAGE``), when its box has ``w < 1``, ``h < 1`` or its
    ``area <= 0`` (``DEGENERATE_BOX``), or when all its polygons are
    degenerate: fewer than 3 points, an odd number of coordinates or zero
    area (``DEGENERATE_POLYGON``). Degenerate polygons of an annotation with
    a valid one are removed from its mask (``DEGENERATE_POLYGON_PART``).
    Annotations mmdet leaves out on purpose (``ignore``, categories not in
    ``classes``) are passed on unchecked. The counts are in
    ``skipped_annotations``; one warning per file names each reason, its
    count and the first annotation ids. Accepts the arguments of mmdet's
    ``CocoDataset``.
    """

    def parse_data_info(self, raw_data_info: dict) -> dict:
        """Drop the malformed annotations of an image, then parse it as
        mmdet does.

        Args:
            raw_data_info (dict): ``raw_img_info`` and ``raw_ann_info`` (the
                image's annotations) from ``ann_file``.

        Returns:
            dict: The parsed image with its instances.
        """
        img_info = raw_data_info['raw_img_info']
        anns = raw_data_info['raw_ann_info']
        self.num_annotations += len(anns)
        if self.file_categories is None:  # the COCO api lives during loading
            self.file_categories = {cat['id']: cat['name']
                                    for cat in self.coco.cats.values()}
        self.annotation_categories.update(ann['category_id'] for ann in anns)
        checked = [self._checked_annotation(ann, img_info) for ann in anns]
        return super().parse_data_info(
            dict(raw_data_info,
                 raw_ann_info=[ann for ann in checked if ann is not None]))

    def _reset_skipped_annotations(self):
        super()._reset_skipped_annotations()
        self.file_categories = None
        self.annotation_categories = Counter()

    def load_data_list(self) -> List[dict]:
        """Load the data list (see ``_SkippedAnnotationsMixin``) and check
        the class names against the file's categories.

        Raises:
            DataAgreementError: a class name that is no category of the
                file (its class would never be seen), or annotations whose
                ``category_id`` is no category of the file.
        """
        data_list = super().load_data_list()
        self._check_categories()
        return data_list

    def _check_categories(self):
        categories = self.file_categories or {}
        classes = list(self.metainfo['classes'])
        unknown = [c for c in classes if c not in categories.values()]
        if unknown and categories:
            raise DataAgreementError(
                f'{self.ann_file}: metainfo classes {unknown[:5]} are no '
                f'category name of this file (its categories: '
                f'{sorted(categories.values())[:10]}). The class names '
                'must equal the category names (case included): set '
                'metainfo=dict(classes=(...)) on the dataset to them.')
        dangling = {cid: n for cid, n in self.annotation_categories.items()
                    if cid not in categories}
        if dangling:
            raise DataAgreementError(
                f'{self.ann_file}: {sum(dangling.values())} annotations have '
                f'category ids {sorted(dangling)[:10]} that map to no '
                f'category of the file (ids {sorted(categories)[:10]}). Add '
                'those categories to "categories" or fix the annotations.')
        unused = {categories[cid]: n for cid, n in
                  self.annotation_categories.items()
                  if categories[cid] not in classes}
        if unused:
            print_log(
                f'{self.ann_file}: {sum(unused.values())} annotations of '
                f'categories that are not in metainfo.classes are not used '
                f'({dict(sorted(unused.items())[:5])}); add them to the '
                'classes to train on them.', logger='current',
                level=logging.WARNING)

    def _checked_annotation(self, ann: dict,
                            img_info: dict) -> Optional[dict]:
        """The annotation, without degenerate polygons, or None (recorded)
        when it is malformed."""
        if ann.get('ignore', False) or ann['category_id'] not in self.cat_ids:
            return ann
        _, _, w, h = ann['bbox']
        if w < 1 or h < 1 or ann['area'] <= 0:
            reason = DEGENERATE_BOX
        elif not box_overlaps_image(ann['bbox'], img_info['width'],
                                    img_info['height']):
            reason = BOX_OUTSIDE_IMAGE
        else:
            return self._without_degenerate_polygons(ann, img_info)
        self._record_skip(reason, ann, img_info)
        return None

    def _without_degenerate_polygons(self, ann: dict,
                                     img_info: dict) -> Optional[dict]:
        segmentation = ann.get('segmentation')
        if not isinstance(segmentation, list):  # none, or RLE
            return ann
        polygons = [p for p in segmentation if not polygon_is_degenerate(p)]
        if len(polygons) == len(segmentation):
            return ann
        if not polygons:
            self._record_skip(DEGENERATE_POLYGON, ann, img_info)
            return None
        self._record_skip(DEGENERATE_POLYGON_PART, ann, img_info)
        return dict(ann, segmentation=polygons)


@DATASETS.register_module()
class CheckedCocoPoseDataset(NonEmptyMixin, _SkippedAnnotationsMixin,
                             CocoPoseDataset):
    """mmpose's COCO keypoints ``CocoDataset`` that skips person boxes
    outside the image or smaller than a pixel with a warning.

    mmpose clips a box to ``[0, width - 1] x [0, height - 1]``: a box outside
    the image becomes zero-sized and is dropped silently in top-down mode
    but kept as a zero-size instance in bottom-up mode, and a box with
    ``0 < w < 1`` is kept as is. Here an annotation is skipped when its box
    has ``w < 1`` or ``h < 1`` (``DEGENERATE_BOX``) or when the clipped box
    is empty (``BOX_OUTSIDE_IMAGE``). The counts are in
    ``skipped_annotations``; one warning per file names each reason, its
    count and the first annotation ids. Detection boxes (``bbox_file``) are
    not checked. Accepts the arguments of mmpose's ``CocoDataset``.
    """

    def parse_data_info(self, raw_data_info: dict) -> Optional[dict]:
        """Parse an instance as mmpose does, or skip it (recorded) when its
        box is malformed.

        Args:
            raw_data_info (dict): ``raw_ann_info`` (one annotation) and
                ``raw_img_info`` (its image) from ``ann_file``.

        Returns:
            dict | None: The parsed instance, or None when skipped.
        """
        ann = raw_data_info['raw_ann_info']
        img_info = raw_data_info['raw_img_info']
        self.num_annotations += 1
        num_keypoints = self.metainfo['num_keypoints']
        if 'keypoints' in ann and len(ann['keypoints']) != 3 * num_keypoints:
            raise DataAgreementError(
                f'{self.ann_file}: annotation {ann.get("id")} (image '
                f'{img_info.get("file_name")}) has {len(ann["keypoints"])} '
                f'keypoint values, {len(ann["keypoints"]) / 3:g} keypoints, '
                f'but the dataset\'s metainfo has {num_keypoints} (x, y, '
                'visibility each). Use the dataset_info file of these '
                'annotations (metainfo=dict(from_file=...)).')
        reason = self._box_problem(ann, img_info)
        if reason is not None:
            self._record_skip(reason, ann, img_info)
            return None
        return super().parse_data_info(raw_data_info)

    @staticmethod
    def _box_problem(ann: dict, img_info: dict) -> Optional[str]:
        if 'bbox' not in ann or 'keypoints' not in ann:
            return None  # mmpose skips these on purpose
        x, y, w, h = ann['bbox']
        if w < 1 or h < 1:
            return DEGENERATE_BOX
        # mmpose's clipping, see BaseCocoStyleDataset.parse_data_info.
        max_x, max_y = img_info['width'] - 1, img_info['height'] - 1
        x1, y1, x2, y2 = np.array(
            [np.clip(x, 0, max_x), np.clip(y, 0, max_y),
             np.clip(x + w, 0, max_x), np.clip(y + h, 0, max_y)],
            dtype=np.float32)
        if x2 - x1 <= 0 or y2 - y1 <= 0:
            return BOX_OUTSIDE_IMAGE
        return None


register_in_toolboxes(CheckedCocoDataset, 'DATASETS', scopes=('mmdet', ))
register_in_toolboxes(CheckedCocoPoseDataset, 'DATASETS', scopes=('mmpose', ))
