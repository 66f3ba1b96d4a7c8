# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Effective receptive field (ERF) of a backbone, by RepLKNet's method
(Ding et al., CVPR 2022): the gradient of the centre of a feature map with
respect to the input, summed over channels and averaged over images, shown
log-scaled, with the area of the centred squares that hold a given share of
the contribution."""
import warnings
from typing import Callable, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

#: Contribution shares RepLKNet reports the area ratio of.
ERF_THRESHOLDS = (0.2, 0.3, 0.5, 0.99)


def erf_map(feature_fn: Callable[[torch.Tensor], torch.Tensor],
            inputs: Iterable[torch.Tensor],
            gradient: str = 'abs') -> Tuple[np.ndarray, int]:
    """Mean contribution of every input pixel to the centre of a feature
    map.

    For each input, ``relu`` of the feature map's centre (``h // 2``,
    ``w // 2``), summed over channels, is differentiated with respect to
    the input; the gradient's magnitude is summed over input channels.

    Args:
        feature_fn (callable): ``(1, C, H, W)`` -> ``(1, C', h, w)``.
        inputs (Iterable[torch.Tensor]): Normalised inputs of one size.
        gradient (str): ``'abs'`` (``|grad|``) or ``'positive'``
            (``relu(grad)``, as RepLKNet's released script). Defaults to
            ``'abs'``.

    Returns:
        tuple: ``(map, count)``: the ``(H, W)`` float64 mean over the
        ``count`` inputs used (non-finite gradients are skipped with a
        warning, as RepLKNet does).
    """
    if gradient not in ('abs', 'positive'):
        raise ValueError(f"gradient must be 'abs' or 'positive', got "
                         f'{gradient!r}.')
    total, count = None, 0
    for x in inputs:
        x = x.detach().clone().requires_grad_(True)
        features = feature_fn(x)
        if not isinstance(features, torch.Tensor) or features.dim() != 4:
            got = tuple(features.shape) if isinstance(
                features, torch.Tensor) else type(features).__name__
            raise ValueError(f'The ERF needs a (N, C, h, w) feature map, got '
                             f'{got}.')
        h, w = features.shape[-2:]
        centre = F.relu(features[:, :, h // 2, w // 2]).sum()
        grad, = torch.autograd.grad(centre, x, allow_unused=True)
        if grad is None:
            grad = torch.zeros_like(x)
        grad = grad.abs() if gradient == 'abs' else grad.relu()
        contribution = grad.sum((0, 1)).double().cpu().numpy()
        if not np.isfinite(contribution).all():
            warnings.warn('Non-finite input gradient; image skipped.')
            continue
        if total is not None and total.shape != contribution.shape:
            raise ValueError(f'All inputs must have one size for the ERF; got '
                             f'{total.shape} and {contribution.shape}.')
        total = contribution if total is None else total + contribution
        count += 1
    if total is None:
        raise ValueError('No input gave a finite ERF.')
    return total / count, count


def log_normalise(data: np.ndarray) -> np.ndarray:
    """``log10(data + 1)`` rescaled to a maximum of 1 (RepLKNet's display
    and measuring scale)."""
    data = np.log10(np.asarray(data, dtype=np.float64) + 1)
    peak = data.max()
    return data / peak if peak > 0 else data


def area_ratios(data: np.ndarray,
                thresholds: Sequence[float] = ERF_THRESHOLDS
                ) -> List[Tuple[float, int, float]]:
    """For each threshold ``t``, the smallest centred square (side 3, 5,
    ...) whose sum exceeds ``t`` of the total, as RepLKNet's
    ``get_rectangle``; squares reaching past the border are clipped to it,
    and the area ratio is the clipped square's share of the map.

    Args:
        data (np.ndarray): ``(H, W)`` contribution map (as measured on,
            i.e. after :func:`log_normalise`).
        thresholds (Sequence[float]): Shares in (0, 1].

    Returns:
        list[tuple]: ``(threshold, side, area_ratio)``.
    """
    height, width = data.shape
    total = data.sum()
    if not total > 0:
        raise ValueError('The contribution map is all zero: no pixel '
                         'reaches the centre of the feature map.')
    cy, cx = height // 2, width // 2
    rows = []
    for threshold in thresholds:
        radius = 1
        while True:
            window = data[max(cy - radius, 0):cy + radius + 1,
                          max(cx - radius, 0):cx + radius + 1]
            covers_all = window.shape == data.shape
            if window.sum() / total > threshold or covers_all:
                rows.append((float(threshold), 2 * radius + 1,
                             window.size / data.size))
                break
            radius += 1
    return rows


def _num_stages(backbone: nn.Module) -> Optional[int]:
    stages = getattr(backbone, 'num_stages', None)
    return stages if isinstance(stages, int) else None


def stage_features(backbone: nn.Module,
                   stage: Optional[int] = None) -> Callable:
    """A function giving the output of stage ``stage`` (1-based) of an
    OpenMMLab backbone, by running it with ``out_indices = (stage - 1, )``;
    without ``stage``, its last output as configured."""
    if stage is not None:
        if not hasattr(backbone, 'out_indices'):
            raise ValueError(
                f'{type(backbone).__name__} has no out_indices to pick stage '
                f'{stage} with; use --layer NAME (a module of the backbone).')
        stages = _num_stages(backbone)
        if stage < 1 or (stages is not None and stage > stages):
            raise ValueError(f'--stage {stage} is out of range: '
                             f'{type(backbone).__name__} has '
                             f'{stages} stages (1..{stages}).')

    def features(x: torch.Tensor) -> torch.Tensor:
        if stage is None:
            outputs = backbone(x)
        else:
            saved = backbone.out_indices
            backbone.out_indices = type(saved)([stage - 1]) if isinstance(
                saved, (list, tuple)) else (stage - 1, )
            try:
                outputs = backbone(x)
            except (AttributeError, KeyError) as error:
                raise ValueError(
                    f'{type(backbone).__name__} cannot return stage {stage} '
                    f'as configured ({error}); use --layer NAME, or include '
                    f'stage {stage} in model.backbone.out_indices.') from error
            finally:
                backbone.out_indices = saved
        return outputs[-1] if isinstance(outputs, (list, tuple)) else outputs

    return features


def layer_features(backbone: nn.Module, layer: nn.Module,
                   name: str) -> Callable:
    """A function running ``backbone`` and giving the output of its
    sub-module ``layer``."""

    def features(x: torch.Tensor) -> torch.Tensor:
        captured = []
        handle = layer.register_forward_hook(
            lambda module, args, output: captured.append(output))
        try:
            backbone(x)
        finally:
            handle.remove()
        if not captured:
            raise ValueError(f'{name} did not run in the backbone forward.')
        if len(captured) > 1:
            raise ValueError(f'{name} runs {len(captured)} times per forward '
                             '(a shared module); pick one that runs once.')
        return captured[0]

    return features
