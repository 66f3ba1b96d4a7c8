# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Whether an exported detector predicts what PyTorch predicts: detections
paired one to one (near-ties at the thresholds told apart from real
differences), on the export's own outputs or on real images through the
config's test pipeline."""
from typing import List, Sequence

import numpy as np
import torch
import torch.nn as nn


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


def paired_mask_diff(expected: dict, actual: dict) -> float:
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

    from ..backends import DeployedModel
    if not backends:
        raise ValueError('check_on_images needs at least one backend.')
    deployed = {name: DeployedModel(model.cfg, onnx_file, backend=name,
                                    **backend_options)
                for name in backends}
    family = next(iter(deployed.values())).family
    if family.task != 'det':
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
