# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Export of mmpose top-down heatmap estimators.

``output`` (N, K, h, w): the heatmaps ``HeatmapHead.predict`` decodes, flip
test included when the config's ``model.test_cfg.flip_test`` says so (the
flipped crop runs through the model a second time, its heatmaps are
flipped, swapped by the dataset's ``flip_indices`` and shifted as
``shift_heatmap`` says, with mmpose's own ``flip_heatmaps``). The host
decodes them with the config's codec and maps keypoints from the crop to
the image as ``TopdownPoseEstimator`` does.

With ``decode=True`` the graph also outputs ``keypoints`` (N, K, 2), in
crop pixels, and ``keypoint_scores`` (N, K): the argmax of each heatmap with
the quarter-pixel refinement of mmpose's ``MSRAHeatmap`` (not ``unbiased``)
decoder, for consumers without mmpose; the host then uses them.
"""
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from .base import ExportFamily, model_type, register_family


class HeatmapDecoder(nn.Module):
    """mmpose ``MSRAHeatmap.decode`` (``unbiased=False``) on a batch:
    argmax, +-0.25 px towards the higher neighbour, scaled to the input."""

    def __init__(self, scale: Tuple[float, float]):
        super().__init__()
        self.register_buffer('scale', torch.tensor(scale, dtype=torch.float32),
                             persistent=False)

    def forward(self, heatmaps: torch.Tensor):
        batch, joints, height, width = heatmaps.shape
        flat = heatmaps.reshape(batch, joints, height * width)
        scores, index = flat.max(dim=-1)
        valid = scores > 0
        x = torch.where(valid, index % width, -1)
        y = torch.where(valid, index // width, -1)

        def at(yy, xx):
            flat_index = (yy.clamp(0, height - 1) * width +
                          xx.clamp(0, width - 1)).unsqueeze(-1)
            return torch.gather(flat, 2, flat_index).squeeze(-1)

        # mmpose's bounds: 1 < x < W - 1 for dx, 1 < y < H - 1 for dy
        dx = torch.where((x > 1) & (x < width - 1) & (y > 0) & (y < height),
                         at(y, x + 1) - at(y, x - 1), 0.)
        dy = torch.where((y > 1) & (y < height - 1) & (x > 0) & (x < width),
                         at(y + 1, x) - at(y - 1, x), 0.)
        locs = torch.stack([x, y], dim=-1).float()
        locs = locs + torch.stack([dx.sign(), dy.sign()], dim=-1) * 0.25
        return locs * self.scale, scores


class PoseHeatmaps(nn.Module):
    """Backbone, neck and head, with mmpose's flip test when asked."""

    def __init__(self, model: nn.Module, flip_test: bool,
                 flip_indices: Optional[Sequence[int]], flip_mode: str,
                 shift_heatmap: bool,
                 decoder: Optional[HeatmapDecoder] = None):
        super().__init__()
        self.model, self.flip_test = model, flip_test
        self.flip_indices = list(flip_indices) if flip_indices else None
        self.flip_mode, self.shift_heatmap = flip_mode, shift_heatmap
        self.decoder = decoder

    def forward(self, inputs: torch.Tensor):
        from mmpose.models.utils.tta import flip_heatmaps
        heatmaps = self.model.head(self.model.extract_feat(inputs))
        if self.flip_test:
            flipped = self.model.head(self.model.extract_feat(inputs.flip(-1)))
            flipped = flip_heatmaps(flipped, flip_indices=self.flip_indices,
                                    flip_mode=self.flip_mode,
                                    shift_heatmap=self.shift_heatmap)
            heatmaps = (heatmaps + flipped) * 0.5
        if self.decoder is None:
            return heatmaps
        keypoints, scores = self.decoder(heatmaps)
        return heatmaps, keypoints, scores


@register_family
class TopdownHeatmapFamily(ExportFamily):
    """mmpose ``TopdownPoseEstimator`` with a ``HeatmapHead``.

    Options:
        decode (bool): Also output decoded ``keypoints`` and
            ``keypoint_scores`` (``MSRAHeatmap`` codecs without
            ``unbiased``).
    """

    name = 'topdown_heatmap'
    task = 'pose'
    description = ('mmpose TopdownPoseEstimator + HeatmapHead -> output '
                   '(N, K, h, w) heatmaps (flip test as test_cfg says), '
                   'decoded keypoints with decode=True')
    default_options = dict(decode=False)

    @classmethod
    def matches(cls, cfg) -> bool:
        return cfg.get('default_scope') == 'mmpose' and \
            model_type(cfg) == 'TopdownPoseEstimator' and \
            model_type(cfg, 'head') == 'HeatmapHead'

    @property
    def output_names(self) -> List[str]:
        names = ['output']
        if self.options['decode']:
            names += ['keypoints', 'keypoint_scores']
        return names

    def _test_cfg(self) -> dict:
        return dict(self.cfg.model.get('test_cfg') or {})

    def _codec(self) -> dict:
        return dict(self.cfg.model.head.get('decoder') or self.cfg.codec)

    def export_module(self, model, shape):
        test_cfg = self._test_cfg()
        decoder = None
        if self.options['decode']:
            codec = self._codec()
            if codec.get('type') != 'MSRAHeatmap' or codec.get('unbiased'):
                raise ValueError(
                    f'decode=True decodes MSRAHeatmap heatmaps without '
                    f'unbiased in the graph; this config\'s codec is '
                    f'{codec}. Export without decoding (mmpose decodes the '
                    'heatmaps on the host).')
            (in_w, in_h), (hm_w, hm_h) = codec['input_size'], \
                codec['heatmap_size']
            decoder = HeatmapDecoder((in_w / hm_w, in_h / hm_h))
        flip_indices = self.dataset_meta().get('flip_indices') \
            if test_cfg.get('flip_test') else None
        return PoseHeatmaps(model, bool(test_cfg.get('flip_test')),
                            flip_indices, test_cfg.get('flip_mode', 'heatmap'),
                            bool(test_cfg.get('shift_heatmap', False)),
                            decoder)

    def fixed_input_shape(self) -> Tuple[int, int]:
        width, height = self._codec()['input_size']
        return int(height), int(width)

    def num_classes(self) -> int:
        """Keypoints (heatmap channels)."""
        return int(self.cfg.model.head.out_channels)

    def dataset_meta(self) -> dict:
        from mmpose.datasets.datasets.utils import parse_pose_metainfo
        meta = super().dataset_meta()
        return parse_pose_metainfo(meta) if 'from_file' in meta or \
            'keypoint_info' in meta else meta

    def meta(self, model, shape):
        test_cfg = self._test_cfg()
        names = self.dataset_meta().get('keypoint_id2name', {})
        postprocess = dict(
            codec=self._codec(),
            flip_test=bool(test_cfg.get('flip_test')),
            flip_mode=test_cfg.get('flip_mode', 'heatmap'),
            shift_heatmap=bool(test_cfg.get('shift_heatmap', False)),
            keypoints=('crop pixels; image = kpt / input_size * '
                       'input_scale + input_center - input_scale / 2'))
        return dict(postprocess=postprocess, keypoint_names=[
            names.get(i) for i in range(self.num_classes())])

    def check_meta(self, meta: dict) -> List[str]:
        exported = meta.get('postprocess') or {}
        test_cfg = self._test_cfg()
        now = dict(flip_test=bool(test_cfg.get('flip_test')),
                   shift_heatmap=bool(test_cfg.get('shift_heatmap', False)))
        return [f'model.test_cfg.{key}: exported {exported.get(key)}, config '
                f'{value}' for key, value in now.items()
                if key in exported and exported[key] != value]

    def to_data_samples(self, outputs, data_samples):
        from mmengine.structures import InstanceData, PixelData
        estimator = self.postprocessor()
        heatmaps = torch.from_numpy(np.asarray(outputs['output']))
        if self.options['decode']:
            preds = [InstanceData(keypoints=k[None], keypoint_scores=s[None])
                     for k, s in zip(np.asarray(outputs['keypoints']),
                                     np.asarray(outputs['keypoint_scores']))]
        else:
            preds = estimator.head.decode(heatmaps)
        fields = [PixelData(heatmaps=h) for h in heatmaps] \
            if self._test_cfg().get('output_heatmaps') else None
        return estimator.add_pred_to_datasample(preds, fields, data_samples)
