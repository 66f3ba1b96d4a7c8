# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Export of mmseg ``EncoderDecoder`` segmentors (Semantic FPN, UperNet, and
other single-decoder models with whole-image inference).

The graph ends where ``EncoderDecoder.inference`` does: the decode head's
logits resized (bilinear) to the input batch. By default (``logits=True``)
the output is the (N, C, H, W) logits and the host runs mmseg's own
``postprocess_result`` (bilinear resize of the logits, then argmax), so the
label maps equal PyTorch's exactly up to float rounding. With
``logits=False`` the graph takes the argmax, ``output`` (N, 1, H, W) int64
as mmdeploy does (a smaller output); the host crops any padding and resizes
the class map to the original image (nearest), which changes labels along
class boundaries whenever the test pipeline resizes.
"""
import copy
from typing import Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import ExportFamily, model_type, register_family


class SymbolicUpsample(nn.Module):
    """mmseg's ``Upsample`` by an integral scale factor with the output size
    kept symbolic: mmseg computes ``int(h * scale)``, which fixes the size
    of a dynamic export to the example's (a constant in the graph)."""

    def __init__(self, scale_factor: int, mode: str, align_corners):
        super().__init__()
        self.scale_factor, self.mode = int(scale_factor), mode
        self.align_corners = align_corners

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = [d * self.scale_factor for d in x.shape[-2:]]
        return F.interpolate(x, size, None, self.mode, self.align_corners)


class SymbolicAdaptiveAvgPool2d(nn.Module):
    """``nn.AdaptiveAvgPool2d`` written with slices whose bounds follow the
    input size: the same bins (``floor(i * n / out)`` to
    ``ceil((i + 1) * n / out)``), each averaged, rows then columns. ONNX
    has no adaptive pooling; exporters compute the kernels from the example
    size, which breaks dynamic exports (UperNet's pyramid pooling)."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = (output_size, output_size) \
            if isinstance(output_size, int) else tuple(output_size)

    @staticmethod
    def _pool(x: torch.Tensor, bins: Optional[int], dim: int) -> torch.Tensor:
        size = x.shape[dim]
        if bins is None:
            return x
        parts = []
        for i in range(bins):
            # non-negative operands only: the exporter writes // as ONNX
            # Div, which truncates (floor and truncation differ below 0)
            start = (i * size) // bins
            end = ((i + 1) * size + bins - 1) // bins
            parts.append(x.narrow(dim, start, end - start).mean(
                dim, keepdim=True))
        return torch.cat(parts, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bins_h, bins_w = self.output_size
        return self._pool(self._pool(x, bins_h, 2), bins_w, 3)


def symbolic_size_modules(model: nn.Module) -> int:
    """Replace, in ``model``, the modules whose output size a dynamic export
    would freeze (mmseg ``Upsample`` by an integral factor, adaptive average
    pools to more than 1x1) with equivalents that keep sizes symbolic.

    Returns:
        int: How many were replaced.
    """
    from mmseg.models.utils import Upsample
    replaced = 0
    for name, module in list(model.named_modules()):
        new = None
        if isinstance(module, Upsample) and not module.size and \
                isinstance(module.scale_factor, float) and \
                module.scale_factor.is_integer():
            new = SymbolicUpsample(module.scale_factor, module.mode,
                                   module.align_corners)
        elif isinstance(module, nn.AdaptiveAvgPool2d) and \
                module.output_size not in (1, (1, 1)):
            new = SymbolicAdaptiveAvgPool2d(module.output_size)
        if new is not None:
            parent, _, attr = name.rpartition('.')
            setattr(model.get_submodule(parent) if parent else model, attr,
                    new)
            replaced += 1
    return replaced


class SegmentorOutput(nn.Module):
    """Features, decode head, resize to the input; argmax unless logits.
    Works on a copy of ``model`` whose size-fixing modules are replaced by
    :func:`symbolic_size_modules`."""

    def __init__(self, model: nn.Module, logits: bool):
        super().__init__()
        model = copy.deepcopy(model)
        symbolic_size_modules(model)
        self.model, self.logits = model, logits

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        seg_logits = self.model.decode_head(self.model.extract_feat(inputs))
        seg_logits = F.interpolate(
            seg_logits, size=inputs.shape[2:], mode='bilinear',
            align_corners=self.model.align_corners)
        if self.logits:
            return seg_logits
        if seg_logits.shape[1] == 1:  # binary: mmseg thresholds the sigmoid
            threshold = self.model.decode_head.threshold
            return (seg_logits.sigmoid() > threshold).long()
        return seg_logits.argmax(dim=1, keepdim=True)


@register_family
class EncoderDecoderFamily(ExportFamily):
    """mmseg ``EncoderDecoder`` with ``test_cfg.mode='whole'``.

    Options:
        logits (bool): Output the logits (default: the host then computes
            mmseg's own label maps) or, with ``logits=False``, the class
            map (argmax before the resize to the image, as mmdeploy; a
            smaller output, labels that differ along class boundaries).
    """

    name = 'encoder_decoder'
    task = 'seg'
    description = ('mmseg EncoderDecoder (Semantic FPN, UperNet, ...), whole '
                   'inference -> output (N, C, H, W) logits, or '
                   '(N, 1, H, W) class map with logits=False')
    default_options = dict(logits=True)
    #: class map: the fraction of pixels whose label differs
    tolerances = dict(output=1e-3)

    @classmethod
    def matches(cls, cfg) -> bool:
        return cfg.get('default_scope') == 'mmseg' and \
            model_type(cfg) == 'EncoderDecoder'

    @property
    def output_names(self):
        return ['output']

    def export_module(self, model, shape):
        mode = (self.cfg.model.get('test_cfg') or {}).get('mode', 'whole')
        if mode != 'whole':
            raise ValueError(
                f"model.test_cfg.mode={mode!r}: only whole-image inference "
                "is exported; use --cfg-options model.test_cfg.mode=whole "
                "(and a test pipeline that resizes the whole image).")
        return SegmentorOutput(model, self.options['logits'])

    def dynamic_axes(self, dynamic):
        axes = super().dynamic_axes(dynamic)
        if dynamic:
            axes['output'].update({2: 'height', 3: 'width'})
        return axes

    def default_shape(self):
        size = (self.cfg.model.get('data_preprocessor') or {}).get('size')
        return tuple(size) if size else super().default_shape()

    def num_classes(self):
        return self.cfg.model.decode_head.get('num_classes')

    def meta(self, model, shape):
        return dict(postprocess=dict(
            output='logits' if self.options['logits'] else 'class_map',
            align_corners=bool(model.align_corners),
            to_original='bilinear resize of the logits, then argmax'
            if self.options['logits'] else 'nearest resize of the class map',
            threshold=float(getattr(model.decode_head, 'threshold', 0.3)
                            or 0.3)))

    def compare_outputs(self, expected, actual):
        if self.options['logits']:
            return super().compare_outputs(expected, actual)
        want, got = expected['output'], actual['output']
        if want.shape != got.shape:
            raise ValueError(f'Output class map: runtime shape {got.shape} '
                             f'!= PyTorch shape {want.shape}')
        return dict(output=float((want != got).mean()))

    def to_data_samples(self, outputs, data_samples):
        from mmengine.structures import PixelData
        from mmseg.structures import SegDataSample
        output = torch.from_numpy(np.asarray(outputs['output']))
        if data_samples is None:
            data_samples = [SegDataSample(metainfo=dict(
                ori_shape=output.shape[2:], img_shape=output.shape[2:],
                pad_shape=output.shape[2:], padding_size=[0, 0, 0, 0]))
                for _ in range(len(output))]
        if self.options['logits']:
            return self.postprocessor().postprocess_result(output,
                                                           data_samples)
        _, _, height, width = output.shape
        for i, sample in enumerate(data_samples):
            meta = sample.metainfo
            left, right, top, bottom = meta.get(
                'img_padding_size', meta.get('padding_size', [0] * 4))
            label = output[i:i + 1, :, top:height - bottom,
                           left:width - right]
            flip = meta.get('flip_direction') if meta.get('flip') else None
            if flip:
                label = label.flip(dims=(3, ) if flip == 'horizontal'
                                   else (2, ))
            label = F.interpolate(label.float(), size=tuple(
                meta['ori_shape'][:2]), mode='nearest').long()
            sample.set_data(dict(pred_sem_seg=PixelData(data=label[0])))
        return data_samples
