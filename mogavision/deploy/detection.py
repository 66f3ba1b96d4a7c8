# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Detection export families: RetinaNet, Mask R-CNN (also Faster R-CNN)
and Cascade (Mask) R-CNN, whole models with mmdet's test-time
postprocessing inside the graph.

The graphs take the padded batch ``input`` (N, 3, H, W) and ``img_shape``
(N, 2) int64, the (h, w) of each resized image inside the padding: mmdet
clips every decoded box to it (RetinaNet, the RPN and every R-CNN stage),
and the clipped proposals feed RoIAlign, so the padded size alone cannot
reproduce mmdet near the right and bottom edges.

Outputs follow mmdeploy's ONNX Runtime models: ``dets`` (N, K, 5: x1 y1 x2
y2 score, in ``input`` pixels), ``labels`` (N, K) int64, and for instance
segmentation ``masks`` (N, K, h, w), the mask head's sigmoid map of the
predicted class per RoI (28x28 for FCNMaskHead; averaged over the stages in
a cascade). Rows past the detections of an image have score 0 and label -1.
:meth:`DetectionFamily.to_data_samples` rescales boxes to the original
image and pastes the masks there with mmdet's own ``_do_paste_mask``, as
``FCNMaskHead.predict_by_feat`` does.

mmdet's semantics are reproduced step by step, in the same float32
arithmetic: per-level top-k (RetinaNet over (anchor, class) pairs above
``score_thr``), DeltaXYWH decoding with the clip, the ``min_bbox_size``
filter, class-offset NMS exactly as mmcv's ``batched_nms`` (offsets from
the largest valid coordinate of the image), ``max_per_img`` by score; the
cascade's class-wise refinement and score averaging. Everything works on
padded (N, candidates) tensors with validity masks, so the batch size and
the input size stay dynamic. NMS is ONNX ``NonMaxSuppression`` (through the
custom op :func:`batched_nms` and its translation in
:data:`CUSTOM_TRANSLATION_TABLE`: torchvision's nms has no batch dimension
and no score threshold), RoIAlign is ONNX ``RoiAlign`` with
``coordinate_transformation_mode='half_pixel'`` (torchvision's roi_align,
which torch's exporter translates; it computes what mmcv's RoIAlign with
``aligned=True`` computes).
"""
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision  # noqa: F401 (registers torch.ops.torchvision)
from torch import Tensor

from .base import ExportFamily, model_type, register_family

#: the score given to candidates that must not take part in NMS
_IGNORED = -1.
#: the second graph input
IMG_SHAPE_NAME = 'img_shape'


# --------------------------------------------------------------------- NMS
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
    ranked = torch.where(valid, scores, scores.new_tensor(_IGNORED))
    kept = torch.ops.mogavision.batched_nms(boxes + offsets[..., None],
                                            ranked, float(iou_threshold),
                                            _IGNORED / 2)
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
    ranked = torch.where(keep, scores, scores.new_tensor(_IGNORED))
    count = torch.sym_min(max_per_img, ranked.shape[1])
    top, order = ranked.topk(count, dim=1)
    valid = top > _IGNORED
    boxes = boxes.gather(1, order[..., None].expand(-1, -1, 4))
    dets = torch.cat([boxes, top[..., None]], -1)
    dets = torch.where(valid[..., None], dets, dets.new_zeros(()))
    labels = labels.expand_as(ranked).gather(1, order)
    labels = torch.where(valid, labels, labels.new_full((), -1))
    return dets, labels, valid


# ------------------------------------------------------------ box coding
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


def _box_wh_valid(boxes: Tensor, cfg) -> Tensor:
    """mmdet's ``min_bbox_size`` filter (none when the key is absent)."""
    min_size = cfg.get('min_bbox_size', -1)
    if min_size < 0:
        return boxes.new_ones(boxes.shape[:-1], dtype=torch.bool)
    w = boxes[..., 2] - boxes[..., 0]
    h = boxes[..., 3] - boxes[..., 1]
    return (w > min_size) & (h > min_size)


def _gather_rows(tensor: Tensor, index: Tensor) -> Tensor:
    """tensor (N, L, D), index (N, K) -> (N, K, D)."""
    return tensor.gather(1, index[..., None].expand(-1, -1, tensor.shape[-1]))


def _nms_iou(cfg) -> float:
    nms = cfg.get('nms') or {}
    if nms.get('type', 'nms') != 'nms' or nms.get('class_agnostic'):
        raise NotImplementedError(
            f'ONNX export supports test_cfg nms=dict(type="nms", '
            f'iou_threshold=...) only; got {dict(nms)}.')
    return float(nms['iou_threshold'])


# --------------------------------------------------------------- RoIAlign
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


def _flat_rois(boxes: Tensor, valid: Tensor) -> Tensor:
    """(N, P, 4) boxes -> (N * P, 5) RoIs; invalid ones become empty boxes
    at the origin (cheap to pool, never used)."""
    batch, count = valid.shape
    boxes = torch.where(valid[..., None], boxes, boxes.new_zeros(()))
    image = torch.arange(batch, device=boxes.device).to(boxes)
    image = image[:, None, None].expand(batch, count, 1)
    return torch.cat([image, boxes], -1).reshape(-1, 5)


# ----------------------------------------------------------------- graphs
class _DetectorGraph(nn.Module):
    """Shared parts: the detector's ``extract_feat`` and the dense head's
    per-level candidates."""

    def __init__(self, detector: nn.Module):
        super().__init__()
        self.model = detector

    def level_candidates(self, head, cls_scores, bbox_preds, feats, cfg,
                         per_class: bool):
        """Per level, mmdet's top ``nms_pre`` candidates; returns the
        concatenated priors, deltas, scores, labels (class or level id) and
        ``real`` (False for the padding of levels with fewer)."""
        nms_pre = cfg.get('nms_pre', -1)
        priors = head.prior_generator.grid_priors(
            [score.shape[-2:] for score in cls_scores],
            dtype=feats[0].dtype, device=feats[0].device)
        batch = cls_scores[0].shape[0]
        out = {'priors': [], 'deltas': [], 'scores': [], 'labels': [],
               'real': []}
        for level, (cls_score, bbox_pred, prior) in enumerate(
                zip(cls_scores, bbox_preds, priors)):
            # contiguous() first: reshaping a permuted tensor of symbolic
            # size costs torch.export seconds of stride algebra per level
            deltas = bbox_pred.permute(0, 2, 3, 1).contiguous().reshape(
                batch, -1, 4)
            logits = cls_score.permute(0, 2, 3, 1).contiguous().reshape(
                batch, -1, head.cls_out_channels)
            if head.use_sigmoid_cls:
                scores = logits.sigmoid()
            else:
                scores = logits.softmax(-1)[..., :-1]
            # RetinaNet ranks (anchor, class) pairs (filter_scores_and_topk),
            # the RPN its one score per anchor
            classes = scores.shape[-1]
            scores = scores.reshape(batch, -1)
            count = scores.shape[1]
            if nms_pre > 0:
                # mmdet takes all of a level with fewer than nms_pre; the
                # top nms_pre of the level padded with nms_pre ignored
                # entries are the same, in a count that does not depend on
                # the input size (simple shapes for a dynamic export)
                scores = torch.cat(
                    [scores, scores.new_full((batch, nms_pre), _IGNORED)], 1)
                scores, index = scores.topk(nms_pre, dim=1)
                real = index < count
                index = torch.where(real, index, index.new_zeros(()))
            else:
                scores, index = scores.topk(count, dim=1)
                real = torch.ones_like(index, dtype=torch.bool)
            anchor = index // classes
            if per_class:
                labels = index % classes
            else:  # the RPN's NMS is per level
                labels = torch.full_like(index, level)
            out['priors'].append(prior[anchor])
            out['deltas'].append(_gather_rows(deltas, anchor))
            out['scores'].append(scores)
            out['labels'].append(labels)
            out['real'].append(real)
        return {key: torch.cat(value, 1) for key, value in out.items()}


class RetinaNetGraph(_DetectorGraph):
    """RetinaNet (any single-stage anchor head with DeltaXYWH boxes and
    sigmoid scores) as mmdet's ``BaseDenseHead.predict_by_feat``."""

    def forward(self, input: Tensor, img_shape: Tensor):
        head = self.model.bbox_head
        cfg = head.test_cfg
        feats = self.model.extract_feat(input)
        cls_scores, bbox_preds = head(feats)
        cand = self.level_candidates(head, cls_scores, bbox_preds, feats,
                                     cfg, per_class=True)
        boxes = delta_decode(head.bbox_coder, cand['priors'],
                             cand['deltas'], img_shape[:, None, :])
        valid = cand['real'] & (cand['scores'] > cfg.get('score_thr', 0)) \
            & _box_wh_valid(boxes, cfg)
        keep = nms_keep(boxes, cand['scores'], valid, cand['labels'],
                        _nms_iou(cfg))
        dets, labels, _ = top_detections(boxes, cand['scores'],
                                         cand['labels'], keep,
                                         cfg.max_per_img)
        return dets, labels


class TwoStageGraph(_DetectorGraph):
    """Faster/Mask R-CNN (StandardRoIHead) and Cascade (Mask) R-CNN
    (CascadeRoIHead) as mmdet's ``TwoStageDetector.predict``."""

    def __init__(self, detector: nn.Module):
        super().__init__(detector)
        roi_head = detector.roi_head
        self.cascade = hasattr(roi_head, 'num_stages')
        self.with_mask = roi_head.with_mask
        if getattr(roi_head, 'with_shared_head', False):
            raise NotImplementedError(
                'ONNX export does not support RoI heads with a shared head.')

    # RPN ---------------------------------------------------------------
    def proposals(self, feats, img_shape):
        head = self.model.rpn_head
        cfg = head.test_cfg
        cls_scores, bbox_preds = head(feats)
        cand = self.level_candidates(head, cls_scores, bbox_preds, feats,
                                     cfg, per_class=False)
        boxes = delta_decode(head.bbox_coder, cand['priors'],
                             cand['deltas'], img_shape[:, None, :])
        valid = cand['real'] & _box_wh_valid(boxes, cfg)
        keep = nms_keep(boxes, cand['scores'], valid, cand['labels'],
                        _nms_iou(cfg))
        dets, _, valid = top_detections(boxes, cand['scores'],
                                        cand['labels'], keep,
                                        cfg.max_per_img)
        return dets[..., :4], valid

    # R-CNN -------------------------------------------------------------
    def _stage(self, stage):
        roi_head = self.model.roi_head
        if self.cascade:
            return (roi_head.bbox_roi_extractor[stage],
                    roi_head.bbox_head[stage])
        return roi_head.bbox_roi_extractor, roi_head.bbox_head

    def box_stages(self, feats, boxes, valid, img_shape):
        """The bbox head(s) on the proposals: (rois' boxes (N, P, 4) of the
        last stage, its cls logits averaged over stages (N*P, C+1), its
        box deltas)."""
        roi_head = self.model.roi_head
        stages = roi_head.num_stages if self.cascade else 1
        batch, count = valid.shape
        roi_shape = img_shape[:, None, :].expand(batch, count, 2)
        logits = []
        for stage in range(stages):
            extractor, bbox_head = self._stage(stage)
            if bbox_head.custom_cls_channels or bbox_head.custom_activation:
                raise NotImplementedError(
                    'ONNX export does not support custom classification '
                    'losses (custom_cls_channels/custom_activation).')
            roi_feats = roi_align_levels(extractor, feats,
                                         _flat_rois(boxes, valid))
            cls_score, bbox_pred = bbox_head(roi_feats)
            logits.append(cls_score)
            if stage < stages - 1:  # CascadeRoIHead._refine_roi
                label = cls_score[:, :-1].argmax(dim=1)
                if not bbox_head.reg_class_agnostic:
                    bbox_pred = bbox_pred.gather(
                        1, (label * 4)[:, None] +
                        torch.arange(4, device=label.device))
                boxes = delta_decode(
                    bbox_head.bbox_coder, boxes.reshape(-1, 4), bbox_pred,
                    roi_shape.reshape(-1, 2)).view(batch, count, 4)
                boxes = torch.where(valid[..., None], boxes,
                                    boxes.new_zeros(()))
        cls_score = logits[0] if stages == 1 else sum(logits) / float(stages)
        return boxes, cls_score, bbox_pred, bbox_head

    def detections(self, boxes, valid, cls_score, bbox_pred, bbox_head,
                   img_shape):
        """``BBoxHead.predict_by_feat`` + ``multiclass_nms`` (no rescale)."""
        cfg = self.model.roi_head.test_cfg
        batch, count = valid.shape
        classes = bbox_head.num_classes
        scores = F.softmax(cls_score, dim=-1).view(batch, count, -1)
        scores = scores[..., :classes].reshape(batch, count * classes)
        per_class = 1 if bbox_head.reg_class_agnostic else classes
        deltas = bbox_pred.view(batch, count, per_class, 4)
        priors = boxes[:, :, None, :].expand(batch, count, per_class, 4)
        decoded = delta_decode(bbox_head.bbox_coder, priors, deltas,
                               img_shape[:, None, None, :])
        decoded = decoded.expand(batch, count, classes, 4).reshape(
            batch, count * classes, 4)
        labels = torch.arange(classes, device=scores.device).repeat(count)
        candidate = (scores > cfg.score_thr) \
            & valid.repeat_interleave(classes, dim=1)
        keep = nms_keep(decoded, scores, candidate, labels, _nms_iou(cfg))
        return top_detections(decoded, scores, labels[None], keep,
                              cfg.max_per_img)

    def masks(self, feats, dets, labels, valid):
        """The predicted class's mask probabilities (N, K, h, w)."""
        roi_head = self.model.roi_head
        rois = _flat_rois(dets[..., :4], valid)
        flat_labels = labels.clamp(min=0).reshape(-1)
        stages = roi_head.num_stages if self.cascade else 1
        probs = []
        for stage in range(stages):
            if self.cascade:
                extractor = roi_head.mask_roi_extractor[stage]
                mask_head = roi_head.mask_head[stage]
            else:
                extractor, mask_head = (roi_head.mask_roi_extractor,
                                        roi_head.mask_head)
            mask_pred = mask_head(roi_align_levels(extractor, feats, rois))
            probs.append(mask_pred.sigmoid())
        # merge_aug_masks averages the stages' probabilities
        prob = probs[0] if stages == 1 else torch.stack(probs).mean(dim=0)
        if mask_head.class_agnostic:
            prob = prob[:, 0]
        else:
            prob = prob.gather(1, flat_labels[:, None, None, None].expand(
                -1, 1, *prob.shape[-2:]))[:, 0]
        prob = prob.view(*valid.shape, *prob.shape[-2:])
        return torch.where(valid[..., None, None], prob, prob.new_zeros(()))

    def forward(self, input: Tensor, img_shape: Tensor):
        feats = self.model.extract_feat(input)
        boxes, valid = self.proposals(feats, img_shape)
        boxes, cls_score, bbox_pred, bbox_head = self.box_stages(
            feats, boxes, valid, img_shape)
        dets, labels, det_valid = self.detections(
            boxes, valid, cls_score, bbox_pred, bbox_head, img_shape)
        if not self.with_mask:
            return dets, labels
        return dets, labels, self.masks(feats, dets, labels, det_valid)


# -------------------------------------------------------- comparisons
def match_detections(expected: dict, actual: dict, score_thr: float,
                     max_per_img: int, box_tol: float = 0.5,
                     score_tol: float = 1e-3) -> dict:
    """Pair the detections of one image (dicts of numpy ``bboxes`` (K, 4),
    ``scores``, ``labels`` and optionally ``masks`` (K, H, W)) one to one:
    same label, closest box.

    A detection without a partner is a near-tie, not a difference, when its
    score is within ``score_tol`` of ``score_thr`` or, in a list cut at
    ``max_per_img``, of the lowest score kept (two candidates swapped at
    the cut).

    Returns:
        dict: ``matched``, ``box`` / ``score`` (max |difference| over the
        pairs), ``mask_iou`` (min IoU over the pairs, 1.0 without masks),
        ``mask_pixels`` (most pixels by which a pair's masks differ; one
        pixel at the 0.5 threshold changes a small mask's IoU a lot),
        ``ties`` (unpaired near-ties) and ``unmatched`` (other unpaired).
    """
    order_e = np.argsort(-expected['scores'], kind='stable')
    used = np.zeros(len(actual['scores']), bool)
    stats = dict(matched=0, box=0., score=0., mask_iou=1., mask_pixels=0,
                 ties=0, unmatched=0)
    pairs = []
    for i in order_e:
        same = np.flatnonzero((actual['labels'] == expected['labels'][i])
                              & ~used)
        if len(same):
            diff = np.abs(actual['bboxes'][same] -
                          expected['bboxes'][i]).max(1)
            j = same[np.argmin(diff)]
            if (diff.min() <= box_tol and abs(actual['scores'][j] -
                                              expected['scores'][i])
                    <= score_tol):
                used[j] = True
                pairs.append((i, j))
    paired_e = {i for i, _ in pairs}
    for i, j in pairs:
        stats['box'] = max(stats['box'], float(np.abs(
            actual['bboxes'][j] - expected['bboxes'][i]).max()))
        stats['score'] = max(stats['score'], float(abs(
            actual['scores'][j] - expected['scores'][i])))
        if 'masks' in expected:
            a, b = expected['masks'][i], actual['masks'][j]
            union = np.logical_or(a, b).sum()
            iou = np.logical_and(a, b).sum() / union if union else 1.
            stats['mask_iou'] = min(stats['mask_iou'], float(iou))
            stats['mask_pixels'] = max(stats['mask_pixels'],
                                       int(np.logical_xor(a, b).sum()))
    stats['matched'] = len(pairs)

    def near_tie(score, other_scores):
        full = len(other_scores) >= max_per_img
        cut = other_scores.min() if full else -np.inf
        return (abs(score - score_thr) <= score_tol
                or (full and score <= cut + score_tol))

    for scores, other, paired in (
            (expected['scores'], actual['scores'], paired_e),
            (actual['scores'], expected['scores'], set(np.flatnonzero(used)))):
        for k in set(range(len(scores))) - paired:
            stats['ties' if near_tie(scores[k], other) else 'unmatched'] += 1
    return stats


def merge_match_stats(stats: Sequence[dict]) -> dict:
    """Worst case over images of :func:`match_detections` results."""
    merged = dict(matched=0, box=0., score=0., mask_iou=1., mask_pixels=0,
                  ties=0, unmatched=0)
    for one in stats:
        for key in ('matched', 'ties', 'unmatched'):
            merged[key] += one[key]
        merged['mask_pixels'] = max(merged['mask_pixels'],
                                    one['mask_pixels'])
        merged['box'] = max(merged['box'], one['box'])
        merged['score'] = max(merged['score'], one['score'])
        merged['mask_iou'] = min(merged['mask_iou'], one['mask_iou'])
    return merged


# -------------------------------------------------------------- families
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
                                _paired_mask_diff(one['e'], one['a']))
        merged = merge_match_stats(stats)
        diffs = dict(boxes=merged['box'], scores=merged['score'],
                     unmatched=float(merged['unmatched']))
        if self.with_mask:
            diffs['masks'] = mask_diff
        return diffs


def _paired_mask_diff(expected: dict, actual: dict) -> float:
    """Max |difference| of the mask probabilities of detections with the
    same label and (almost) the same box."""
    worst = 0.
    for i in range(len(expected['scores'])):
        same = np.flatnonzero(actual['labels'] == expected['labels'][i])
        if not len(same):
            continue
        diff = np.abs(actual['bboxes'][same] - expected['bboxes'][i]).max(1)
        if diff.min() <= 0.5:
            j = same[np.argmin(diff)]
            worst = max(worst, float(np.abs(actual['probs'][j] -
                                            expected['probs'][i]).max()))
    return worst


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


# ------------------------------------------------------- on real images
def instances_as_numpy(instances) -> dict:
    """``pred_instances`` -> dict of numpy arrays for
    :func:`match_detections`."""
    out = {key: getattr(instances, key).detach().cpu().numpy()
           for key in ('bboxes', 'scores', 'labels')}
    if 'masks' in instances:
        masks = instances.masks
        out['masks'] = masks.cpu().numpy() if hasattr(masks, 'cpu') \
            else np.asarray(masks)
    return out


def check_on_images(model: nn.Module, onnx_file: str, images: Sequence[str],
                    backends: Sequence[str] = ('onnxruntime', 'openvino'),
                    **backend_options) -> List[dict]:
    """Predictions of an exported detector against the PyTorch model's,
    image by image, through the config's test pipeline
    (``mmdet.apis.inference_detector`` for both).

    Args:
        model (nn.Module): The PyTorch detector (its ``cfg`` set, as
            ``init_detector`` sets it).
        onnx_file (str): ``end2end.onnx`` exported from it.
        images (Sequence[str]): Image files.
        backends (Sequence[str]): Runtimes to check.
        **backend_options: e.g. ``threads``, for every backend.

    Returns:
        list[dict]: One row per (image, backend): ``image``, ``backend``,
        ``expected`` / ``actual`` (detection counts) and the
        :func:`match_detections` statistics.
    """
    from mmdet.apis import inference_detector

    from .backends import DeployedModel
    if not backends:
        raise ValueError('check_on_images needs at least one backend.')
    deployed = {name: DeployedModel(model.cfg, onnx_file, backend=name,
                                    **backend_options)
                for name in backends}
    family = next(iter(deployed.values())).family
    if not isinstance(family, DetectionFamily):
        raise ValueError(f'{onnx_file} is a {family.name!r} export, not a '
                         'detector.')
    score_thr, max_per_img, _ = family.test_cfg
    rows = []
    for image in images:
        with torch.no_grad():
            expected = instances_as_numpy(
                inference_detector(model, image).pred_instances)
        for name, runtime in deployed.items():
            actual = instances_as_numpy(
                inference_detector(runtime, image).pred_instances)
            stats = match_detections(expected, actual, score_thr,
                                     max_per_img)
            rows.append(dict(image=image, backend=name,
                             expected=len(expected['scores']),
                             actual=len(actual['scores']), **stats))
    return rows
