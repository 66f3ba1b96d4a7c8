# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""The detection graphs: mmdet's test-time forward of RetinaNet and of
two-stage (Cascade) R-CNNs, postprocessing included, as exportable modules
(see :mod:`mogavision.deploy.detection`)."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .ops import (IGNORED_SCORE, box_wh_valid, flat_rois, gather_rows,
                  nms_iou, delta_decode, nms_keep, roi_align_levels,
                  top_detections)


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
                    [scores, scores.new_full((batch, nms_pre), IGNORED_SCORE)], 1)
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
            out['deltas'].append(gather_rows(deltas, anchor))
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
            & box_wh_valid(boxes, cfg)
        keep = nms_keep(boxes, cand['scores'], valid, cand['labels'],
                        nms_iou(cfg))
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
        valid = cand['real'] & box_wh_valid(boxes, cfg)
        keep = nms_keep(boxes, cand['scores'], valid, cand['labels'],
                        nms_iou(cfg))
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
                                         flat_rois(boxes, valid))
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
        keep = nms_keep(decoded, scores, candidate, labels, nms_iou(cfg))
        return top_detections(decoded, scores, labels[None], keep,
                              cfg.max_per_img)

    def masks(self, feats, dets, labels, valid):
        """The predicted class's mask probabilities (N, K, h, w)."""
        roi_head = self.model.roi_head
        rois = flat_rois(dets[..., :4], valid)
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
