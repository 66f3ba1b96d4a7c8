# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""The operations of the detection graphs: NMS as a custom op with its ONNX
translation, top-k selection, mmdet's box coding and multi-level RoIAlign,
all on padded (N, candidates) tensors with validity masks."""
from typing import Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torchvision  # noqa: F401 (registers torch.ops.torchvision)
from torch import Tensor

#: the score given to candidates that must not take part in NMS
IGNORED_SCORE = -1.


@torch.library.custom_op('mogavision::batched_nms', mutates_args=())
def batched_nms(boxes: Tensor, scores: Tensor, iou_threshold: float,
                score_threshold: float) -> Tensor:
    """Greedy NMS of every image of a batch, as ONNX ``NonMaxSuppression``
    with one class computes it.

    Args:
        boxes (Tensor): (N, S, 4) x1 y1 x2 y2.
        scores (Tensor): (N, S).
        iou_threshold (float): A box is suppressed by a kept box with a
            higher score when their IoU is greater than this.
        score_threshold (float): Only boxes with a score greater than this
            take part.

    Returns:
        Tensor: (K, 2) int64 rows (image, box) of the kept boxes, image by
        image, each in descending score order.
    """
    kept = []
    for image in range(boxes.shape[0]):
        candidates = torch.nonzero(scores[image] > score_threshold)[:, 0]
        keep = candidates[torchvision.ops.nms(
            boxes[image, candidates], scores[image, candidates],
            iou_threshold)]
        kept.append(torch.stack([torch.full_like(keep, image), keep], 1))
    if not kept:
        return boxes.new_zeros((0, 2), dtype=torch.int64)
    return torch.cat(kept)


@batched_nms.register_fake
def _batched_nms_fake(boxes, scores, iou_threshold, score_threshold):
    kept = torch.library.get_ctx().new_dynamic_size()
    return boxes.new_empty((kept, 2), dtype=torch.int64)


def _batched_nms_onnx(boxes, scores, iou_threshold: float,
                      score_threshold: float):
    """ONNX translation of :func:`batched_nms` (onnxscript, traced)."""
    from onnxscript import opset18 as op
    selected = op.NonMaxSuppression(
        boxes, op.Unsqueeze(scores, [1]),
        op.Constant(value_int=2**31 - 1),
        op.Constant(value_float=iou_threshold),
        op.Constant(value_float=score_threshold))
    # selected rows are (batch, class, box); one class here
    return op.Gather(selected, op.Constant(value_ints=[0, 2]), axis=1)


#: ``custom_translation_table`` for ``torch.onnx.export(..., dynamo=True)``
CUSTOM_TRANSLATION_TABLE = {
    torch.ops.mogavision.batched_nms.default: _batched_nms_onnx
}


def nms_keep(boxes: Tensor, scores: Tensor, valid: Tensor, idxs: Tensor,
             iou_threshold: float) -> Tensor:
    """mmcv's ``batched_nms`` (class-aware through coordinate offsets) on
    the ``valid`` candidates of every image.

    Args:
        boxes (Tensor): (N, S, 4).
        scores (Tensor): (N, S).
        valid (Tensor): (N, S) bool, the candidates mmdet would pass on.
        idxs (Tensor): (N, S) or (S,) int, the class (or level) of each.
        iou_threshold (float): NMS IoU threshold.

    Returns:
        Tensor: (N, S) bool, the kept candidates.
    """
    # mmcv offsets the boxes of class c by c * (max coordinate + 1), the
    # maximum over the image's candidates
    coords = torch.where(valid[..., None], boxes,
                         boxes.new_tensor(float('-inf')))
    max_coordinate = coords.flatten(1).amax(1)
    max_coordinate = torch.where(valid.any(1), max_coordinate,
                                 max_coordinate.new_zeros(()))
    offsets = idxs.to(boxes) * (max_coordinate[:, None] + 1)
    ranked = torch.where(valid, scores, scores.new_tensor(IGNORED_SCORE))
    kept = torch.ops.mogavision.batched_nms(boxes + offsets[..., None],
                                            ranked, float(iou_threshold),
                                            IGNORED_SCORE / 2)
    keep = torch.zeros_like(valid)
    return keep.index_put((kept[:, 0], kept[:, 1]),
                          keep.new_ones(()).expand(kept.shape[0]))


def top_detections(boxes: Tensor, scores: Tensor, labels: Tensor,
                   keep: Tensor, max_per_img: int
                   ) -> Tuple[Tensor, Tensor, Tensor]:
    """The ``max_per_img`` best kept candidates of every image, by score.

    Returns:
        tuple: ``dets`` (N, K, 5), ``labels`` (N, K) (0 and -1 where an
        image has fewer than K) and their validity (N, K) bool.
    """
    ranked = torch.where(keep, scores, scores.new_tensor(IGNORED_SCORE))
    count = torch.sym_min(max_per_img, ranked.shape[1])
    top, order = ranked.topk(count, dim=1)
    valid = top > IGNORED_SCORE
    boxes = boxes.gather(1, order[..., None].expand(-1, -1, 4))
    dets = torch.cat([boxes, top[..., None]], -1)
    dets = torch.where(valid[..., None], dets, dets.new_zeros(()))
    labels = labels.expand_as(ranked).gather(1, order)
    labels = torch.where(valid, labels, labels.new_full((), -1))
    return dets, labels, valid


def delta_decode(coder, priors: Tensor, deltas: Tensor,
                 img_shape: Tensor) -> Tensor:
    """mmdet's ``DeltaXYWHBBoxCoder.decode`` (``delta2bbox``, same float
    operations) on any leading dims, clipped to ``img_shape``.

    Args:
        coder: The head's ``bbox_coder`` (a ``DeltaXYWHBBoxCoder``).
        priors (Tensor): (..., 4) anchors or RoIs.
        deltas (Tensor): (..., 4).
        img_shape (Tensor): (..., 2) float (h, w), broadcastable.
    """
    if type(coder).__name__ != 'DeltaXYWHBBoxCoder':
        raise NotImplementedError(
            f'ONNX export decodes boxes with DeltaXYWHBBoxCoder only; this '
            f'head has {type(coder).__name__}.')
    means = deltas.new_tensor(coder.means)
    stds = deltas.new_tensor(coder.stds)
    denorm = deltas * stds + means
    dxy, dwh = denorm[..., :2], denorm[..., 2:]
    pxy = (priors[..., :2] + priors[..., 2:]) * 0.5
    pwh = priors[..., 2:] - priors[..., :2]
    dxy_wh = pwh * dxy
    max_ratio = float(np.abs(np.log(16 / 1000)))  # decode()'s default
    if coder.add_ctr_clamp:
        dxy_wh = dxy_wh.clamp(min=-coder.ctr_clamp, max=coder.ctr_clamp)
        dwh = dwh.clamp(max=max_ratio)
    else:
        dwh = dwh.clamp(min=-max_ratio, max=max_ratio)
    gxy = pxy + dxy_wh
    gwh = pwh * dwh.exp()
    bboxes = torch.cat([gxy - gwh * 0.5, gxy + gwh * 0.5], dim=-1)
    if coder.clip_border:
        max_wh = img_shape.flip(-1).to(bboxes)
        max_xy = torch.cat([max_wh, max_wh], -1)
        bboxes = torch.minimum(bboxes.clamp(min=0), max_xy)
    return bboxes


def box_wh_valid(boxes: Tensor, cfg) -> Tensor:
    """mmdet's ``min_bbox_size`` filter (none when the key is absent)."""
    min_size = cfg.get('min_bbox_size', -1)
    if min_size < 0:
        return boxes.new_ones(boxes.shape[:-1], dtype=torch.bool)
    w = boxes[..., 2] - boxes[..., 0]
    h = boxes[..., 3] - boxes[..., 1]
    return (w > min_size) & (h > min_size)


def gather_rows(tensor: Tensor, index: Tensor) -> Tensor:
    """tensor (N, L, D), index (N, K) -> (N, K, D)."""
    return tensor.gather(1, index[..., None].expand(-1, -1, tensor.shape[-1]))


def nms_iou(cfg) -> float:
    nms = cfg.get('nms') or {}
    if nms.get('type', 'nms') != 'nms' or nms.get('class_agnostic'):
        raise NotImplementedError(
            f'ONNX export supports test_cfg nms=dict(type="nms", '
            f'iou_threshold=...) only; got {dict(nms)}.')
    return float(nms['iou_threshold'])


def roi_align_levels(extractor: nn.Module, feats: Sequence[Tensor],
                     rois: Tensor) -> Tensor:
    """mmdet's ``SingleRoIExtractor`` with torchvision's roi_align (ONNX
    ``RoiAlign``): each RoI pooled from its FPN level.

    Args:
        extractor: The head's ``SingleRoIExtractor`` (mmcv RoIAlign layers).
        feats (Sequence[Tensor]): FPN levels.
        rois (Tensor): (R, 5) image index, x1 y1 x2 y2.
    """
    if type(extractor).__name__ != 'SingleRoIExtractor':
        raise NotImplementedError(
            f'ONNX export supports SingleRoIExtractor only; got '
            f'{type(extractor).__name__}.')
    feats = feats[:extractor.num_inputs]
    layers = extractor.roi_layers
    for layer in layers:
        if (not hasattr(layer, 'aligned')
                or getattr(layer, 'pool_mode', 'avg') != 'avg'):
            raise NotImplementedError(
                f'ONNX export supports mmcv RoIAlign (avg pooling) RoI '
                f'layers only; got {layer!r}.')

    def pool(layer, feat, boxes):
        pooled = torchvision.ops.roi_align(
            feat, boxes, layer.output_size, layer.spatial_scale,
            layer.sampling_ratio, layer.aligned)
        if layer.sampling_ratio > 0 or not layer.aligned:
            return pooled
        # An empty RoI has no samples: mmcv and ONNX Runtime give 0,
        # OpenVINO 0/0 = NaN (e.g. a box clipped to zero width). The size
        # as the kernels compute it (half-pixel offset, no minimum of 1):
        start = boxes[:, 1:3] * layer.spatial_scale - 0.5
        size = (boxes[:, 3:5] * layer.spatial_scale - 0.5) - start
        empty = (size <= 0).any(1)
        return torch.where(empty[:, None, None, None],
                           pooled.new_zeros(()), pooled)

    if len(feats) == 1:
        return pool(layers[0], feats[0], rois)
    levels = extractor.map_roi_levels(rois, len(feats))
    pooled = feats[0].new_zeros(rois.shape[0], extractor.out_channels,
                                *layers[0].output_size)
    for level, (layer, feat) in enumerate(zip(layers, feats)):
        inds = torch.nonzero(levels == level)[:, 0]
        pooled = pooled.index_put((inds, ), pool(layer, feat, rois[inds]))
    return pooled


def flat_rois(boxes: Tensor, valid: Tensor) -> Tensor:
    """(N, P, 4) boxes -> (N * P, 5) RoIs; invalid ones become empty boxes
    at the origin (cheap to pool, never used)."""
    batch, count = valid.shape
    boxes = torch.where(valid[..., None], boxes, boxes.new_zeros(()))
    image = torch.arange(batch, device=boxes.device).to(boxes)
    image = image[:, None, None].expand(batch, count, 1)
    return torch.cat([image, boxes], -1).reshape(-1, 5)
