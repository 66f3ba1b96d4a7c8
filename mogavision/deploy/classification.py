# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Export of mmpretrain image classifiers: ``output`` (N, C), the softmax
scores that ``ClsHead.predict`` computes (mmdeploy's convention)."""
from typing import Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import ExportFamily, model_type, register_family, test_pipeline


class ClassifierScores(nn.Module):
    """Backbone, neck, head logits, softmax: ``ImageClassifier.predict``
    without the data samples."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        feats = self.model.extract_feat(inputs)
        return F.softmax(self.model.head(feats), dim=1)


@register_family
class ClassifierFamily(ExportFamily):
    """mmpretrain ``ImageClassifier`` with a ``ClsHead``-style head."""

    name = 'cls'
    task = 'cls'
    description = ('mmpretrain ImageClassifier -> output (N, C) softmax '
                   'scores')

    @classmethod
    def matches(cls, cfg) -> bool:
        head = model_type(cfg, 'head')
        return cfg.get('default_scope') == 'mmpretrain' and \
            model_type(cfg) == 'ImageClassifier' and head.endswith('ClsHead') \
            and 'MultiLabel' not in head

    @property
    def output_names(self):
        return ['output']

    def export_module(self, model, shape):
        return ClassifierScores(model)

    def fixed_input_shape(self) -> Optional[Tuple[int, int]]:
        for step in test_pipeline(self.cfg):
            if str(step.get('type')).split('.')[-1] == 'CenterCrop':
                size = step['crop_size']
                return (size, size) if isinstance(size, int) \
                    else (size[1], size[0])  # mmpretrain: (w, h)
        return None

    def default_shape(self):
        return self.fixed_input_shape() or (224, 224)

    def num_classes(self):
        return self.cfg.model.head.get('num_classes')

    def to_data_samples(self, outputs, data_samples):
        from mmpretrain.structures import DataSample
        scores = torch.from_numpy(np.asarray(outputs['output']))
        if data_samples is None:
            data_samples = [DataSample() for _ in range(len(scores))]
        labels = scores.argmax(dim=1, keepdim=True)
        for sample, score, label in zip(data_samples, scores, labels):
            sample.set_pred_score(score).set_pred_label(label)
        return data_samples
