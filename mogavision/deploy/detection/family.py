# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""The detection export families: what RetinaNet, Mask R-CNN and Cascade
(Mask) R-CNN need to be exported, run and compared (see
:mod:`mogavision.deploy.detection`)."""
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor

from ..base import ExportFamily, model_type, register_family
from .graphs import RetinaNetGraph, TwoStageGraph
from .ops import CUSTOM_TRANSLATION_TABLE
from .parity import match_detections, merge_match_stats, paired_mask_diff

#: the second graph input
IMG_SHAPE_NAME = 'img_shape'


def _plain(value):
    """Config values -> JSON-serialisable."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _differences(old, new, key: str = ''):
    """(key path, old, new) of the leaves where two nested dicts differ
    (tuples and lists compare equal, ints and floats by value)."""
    if isinstance(old, dict) and isinstance(new, dict):
        for name in sorted(set(old) | set(new)):
            yield from _differences(old.get(name), new.get(name),
                                    f'{key}.{name}')
    elif isinstance(old, (list, tuple)) and isinstance(new, (list, tuple)):
        if list(old) != list(new):
            yield key, old, new
    elif old != new:
        yield key, old, new


def paste_masks(probs: Tensor, bboxes: Tensor, ori_shape: Sequence[int],
                threshold: float) -> Tensor:
    """``FCNMaskHead._predict_by_feat_single``'s pasting on CPU: each
    (h, w) probability map into its box of the original image (with mmdet's
    ``_do_paste_mask``), thresholded.

    Args:
        probs (Tensor): (K, h, w) mask probabilities.
        bboxes (Tensor): (K, 4) boxes in the original image.
        ori_shape (Sequence[int]): (H, W) of the original image.
        threshold (float): ``mask_thr_binary``; < 0 gives uint8 0..255.
    """
    from mmdet.models.roi_heads.mask_heads.fcn_mask_head import \
        _do_paste_mask
    img_h, img_w = int(ori_shape[0]), int(ori_shape[1])
    masks = torch.zeros(len(probs), img_h, img_w,
                        dtype=torch.bool if threshold >= 0 else torch.uint8)
    if not len(probs):
        return masks
    for inds in torch.chunk(torch.arange(len(probs)), len(probs)):
        chunk, spatial = _do_paste_mask(probs[inds][:, None], bboxes[inds],
                                        img_h, img_w, skip_empty=True)
        if threshold >= 0:
            chunk = chunk >= threshold
        else:
            chunk = (chunk * 255).to(dtype=torch.uint8)
        masks[(inds, ) + spatial] = chunk
    return masks


class DetectionFamily(ExportFamily):
    """What the detection families share: the ``img_shape`` input, the
    NMS translation, rescaling and mask pasting, the detection-wise
    comparison. Subclasses set :attr:`graph` and :attr:`model_types`."""

    task = 'det'
    #: mmdet detector types (``cfg.model.type``) of the family
    model_types: Tuple[str, ...] = ()
    #: the graph module class
    graph = None
    #: mmdet divides boxes by the scale factor where a mask head rescales
    #: them, and multiplies by its inverse elsewhere (``scale_boxes``)
    tolerances = {'boxes': 0.5, 'scores': 1e-3, 'masks': 1e-3,
                  'unmatched': 0}

    @classmethod
    def matches(cls, cfg) -> bool:
        return model_type(cfg) in cls.model_types

    @property
    def with_mask(self) -> bool:
        roi_head = self.cfg.model.get('roi_head') or {}
        return bool(roi_head.get('mask_head'))

    @property
    def input_names(self) -> List[str]:
        return ['input', IMG_SHAPE_NAME]

    @property
    def output_names(self) -> List[str]:
        return ['dets', 'labels'] + (['masks'] if self.with_mask else [])

    @property
    def custom_translation_table(self) -> dict:
        return dict(CUSTOM_TRANSLATION_TABLE)

    @property
    def test_cfg(self):
        """(score_thr, max_per_img, mask_thr_binary) of the final stage."""
        test_cfg = self.cfg.model.test_cfg
        final = test_cfg.get('rcnn', test_cfg)
        return (final.get('score_thr', 0.), final['max_per_img'],
                final.get('mask_thr_binary', 0.5))

    def export_module(self, model: nn.Module,
                      shape: Tuple[int, int]) -> nn.Module:
        return self.graph(model).eval()

    def example_inputs(self, shape: Tuple[int, int], batch_size: int = 1):
        """Noise and, per image, an ``img_shape`` a little smaller than the
        input (so that the clipping to it is exercised)."""
        inputs = super().example_inputs(shape, batch_size)
        height, width = shape
        img_shape = torch.tensor(
            [[max(height - 7 * i - 5, 1), max(width - 11 * i - 3, 1)]
             for i in range(batch_size)], dtype=torch.int64)
        return inputs, img_shape

    def runtime_inputs(self, inputs: np.ndarray,
                       data_samples: list) -> Dict[str, np.ndarray]:
        """``input`` and the data samples' ``img_shape``."""
        img_shape = np.array([s.metainfo['img_shape'][:2]
                              for s in data_samples], dtype=np.int64)
        if len(img_shape) != len(inputs):
            raise ValueError(f'{len(inputs)} images in the batch but '
                             f'{len(img_shape)} data samples.')
        return {'input': inputs, IMG_SHAPE_NAME: img_shape}

    def dynamic_axes(self, dynamic: bool) -> Dict[str, Dict[int, str]]:
        axes = super().dynamic_axes(dynamic)
        axes[IMG_SHAPE_NAME] = {0: 'batch'}
        for name in self.output_names:
            axes[name] = {0: 'batch', 1: 'num_dets'}
        return axes

    def meta(self, model: nn.Module, shape: Tuple[int, int]) -> dict:
        score_thr, max_per_img, mask_thr = self.test_cfg
        post = dict(test_cfg=_plain(self.cfg.model.test_cfg.to_dict()),
                    score_thr=score_thr, max_per_img=max_per_img,
                    rescale='divide' if self.with_mask else 'multiply')
        if self.with_mask:
            post['mask_thr_binary'] = mask_thr
            post['masks'] = ('per-RoI probability of the predicted class, '
                             'pasted into each box of the original image')
        return {
            'postprocess': post,
            'extra_inputs': {
                IMG_SHAPE_NAME: 'int64 (N, 2): (h, w) of each resized image '
                'inside the padded input (metainfo img_shape); boxes are '
                'clipped to it'
            },
        }

    def check_meta(self, meta: dict) -> List[str]:
        """The graph holds the test_cfg it was exported with (thresholds,
        top-k, NMS): a config that asks for other values gets an error, not
        silently the exported ones."""
        exported = (meta.get('postprocess') or {}).get('test_cfg')
        if exported is None:
            return ['the export records no postprocess.test_cfg (not a '
                    'mogavision detection export?)']
        current = _plain(self.cfg.model.test_cfg.to_dict())
        return [f'model.test_cfg{key}: exported {old!r}, config {new!r} '
                '(the graph holds the exported values; export again)'
                for key, old, new in _differences(exported, current)]

    def _rescale(self, bboxes: Tensor, scale_factor) -> Tensor:
        from mmdet.structures.bbox import scale_boxes
        if self.with_mask:  # FCNMaskHead: bboxes /= scale_factor
            return bboxes / bboxes.new_tensor(scale_factor).repeat((1, 2))
        return scale_boxes(bboxes, [1 / s for s in scale_factor])

    def to_data_samples(self, outputs: Dict[str, np.ndarray],
                        data_samples: list) -> list:
        from mmengine.structures import InstanceData
        _, _, mask_thr = self.test_cfg
        dets, labels = outputs['dets'], outputs['labels']
        if len(dets) != len(data_samples):
            raise ValueError(f'The runtime returned {len(dets)} images of '
                             f'detections for {len(data_samples)} samples.')
        for i, sample in enumerate(data_samples):
            keep = dets[i, :, 4] > 0
            det = torch.from_numpy(np.ascontiguousarray(dets[i][keep]))
            results = InstanceData()
            results.bboxes = self._rescale(det[:, :4].float(),
                                           sample.metainfo['scale_factor'])
            results.scores = det[:, 4].float()
            results.labels = torch.from_numpy(labels[i][keep]).long()
            if self.with_mask:
                probs = torch.from_numpy(
                    np.ascontiguousarray(outputs['masks'][i][keep])).float()
                results.masks = paste_masks(probs, results.bboxes,
                                            sample.metainfo['ori_shape'],
                                            mask_thr)
            sample.pred_instances = results
        return data_samples

    def compare_outputs(self, expected: Dict[str, np.ndarray],
                        actual: Dict[str, np.ndarray]) -> Dict[str, float]:
        """Detections paired one to one (:func:`match_detections`):
        ``boxes`` / ``scores`` / ``masks`` max |difference| over the pairs
        (masks: the per-RoI probabilities) and ``unmatched``, detections
        without a partner that are not near-ties."""
        score_thr, max_per_img, _ = self.test_cfg
        stats, mask_diff = [], 0.
        for i in range(len(expected['dets'])):
            one = {}
            for name, outs in (('e', expected), ('a', actual)):
                keep = outs['dets'][i, :, 4] > 0
                one[name] = dict(bboxes=outs['dets'][i, keep, :4],
                                 scores=outs['dets'][i, keep, 4],
                                 labels=outs['labels'][i, keep])
                if 'masks' in outs:
                    one[name]['probs'] = outs['masks'][i, keep]
            stats.append(match_detections(one['e'], one['a'], score_thr,
                                          max_per_img))
            if 'probs' in one['e']:
                mask_diff = max(mask_diff,
                                paired_mask_diff(one['e'], one['a']))
        merged = merge_match_stats(stats)
        diffs = dict(boxes=merged['box'], scores=merged['score'],
                     unmatched=float(merged['unmatched']))
        if self.with_mask:
            diffs['masks'] = mask_diff
        return diffs


@register_family
class RetinaNetFamily(DetectionFamily):
    """RetinaNet: ``dets`` and ``labels`` with mmdet's per-level top-k,
    score threshold, class-wise NMS and ``max_per_img`` inside the
    graph."""

    name = 'retinanet'
    description = 'RetinaNet (dets, labels; NMS in the graph)'
    model_types = ('RetinaNet', )
    graph = RetinaNetGraph


@register_family
class MaskRCNNFamily(DetectionFamily):
    """Mask R-CNN (and Faster R-CNN: no ``masks``): RPN, RoIAlign, the bbox
    head's class-wise NMS and the mask head inside the graph."""

    name = 'mask_rcnn'
    description = ('Mask R-CNN / Faster R-CNN (dets, labels[, masks]; NMS '
                   'and RoIAlign in the graph)')
    model_types = ('MaskRCNN', 'FasterRCNN')
    graph = TwoStageGraph


@register_family
class CascadeMaskRCNNFamily(DetectionFamily):
    """Cascade (Mask) R-CNN, including the GIoU 4conv1fc variants: the
    three stages' class-wise refinement, score and mask averaging inside
    the graph."""

    name = 'cascade_mask_rcnn'
    description = ('Cascade (Mask) R-CNN (dets, labels[, masks]; NMS and '
                   'RoIAlign in the graph)')
    model_types = ('CascadeRCNN', )
    graph = TwoStageGraph
