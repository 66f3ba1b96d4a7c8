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
from .family import (IMG_SHAPE_NAME, CascadeMaskRCNNFamily, DetectionFamily,
                     MaskRCNNFamily, RetinaNetFamily, paste_masks)
from .graphs import RetinaNetGraph, TwoStageGraph
from .ops import (CUSTOM_TRANSLATION_TABLE, batched_nms, delta_decode,
                  nms_keep, roi_align_levels, top_detections)
from .parity import (check_on_images, instances_as_numpy, match_detections,
                     merge_match_stats)

__all__ = [
    'CUSTOM_TRANSLATION_TABLE', 'CascadeMaskRCNNFamily', 'DetectionFamily',
    'IMG_SHAPE_NAME', 'MaskRCNNFamily', 'RetinaNetFamily', 'RetinaNetGraph',
    'TwoStageGraph', 'batched_nms', 'check_on_images', 'delta_decode',
    'instances_as_numpy', 'match_detections', 'merge_match_stats',
    'nms_keep', 'paste_masks', 'roi_align_levels', 'top_detections'
]
