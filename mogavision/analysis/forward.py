# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Tensor-in, tensor-out wrappers of the toolboxes' models: the tensor-mode
forward on one image batch, and the loss on fixed random ground truth."""
from typing import Tuple

import torch
import torch.nn as nn


class TensorForward(nn.Module):
    """Runs a toolbox model's tensor-mode forward on one image tensor."""

    def __init__(self, model: nn.Module, task: str, shape: Tuple[int, int]):
        super().__init__()
        self.model, self.task, self.shape = model, task, shape

    def forward(self, inputs: torch.Tensor):
        if self.task == 'det':
            from mmdet.structures import DetDataSample
            h, w = self.shape
            sample = DetDataSample(metainfo=dict(
                img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
                batch_input_shape=(h, w), scale_factor=(1., 1.)))
            return self.model(inputs, [sample], mode='tensor')
        return self.model(inputs, None, mode='tensor')


class LossForward(nn.Module):
    """Runs a toolbox model's loss-mode forward on one batch tensor with
    fixed random ground truth (detection boxes, labels and masks;
    segmentation label maps; class labels), and returns the total loss: a
    training step without a dataset, for benchmarks."""

    def __init__(self, model: nn.Module, task: str, shape: Tuple[int, int],
                 batch_size: int, num_objects: int = 4, seed: int = 0):
        super().__init__()
        if task not in ('cls', 'det', 'seg'):
            raise ValueError(f'No synthetic training batch for task {task!r}; '
                             'use --part backbone.')
        self.model = model
        generator = torch.Generator().manual_seed(seed)
        num_classes = min(m.num_classes for m in model.modules()
                          if isinstance(getattr(m, 'num_classes', None), int))
        make = dict(cls=_cls_sample, det=_det_sample, seg=_seg_sample)[task]
        self.data_samples = [
            make(shape, num_classes, num_objects, generator,
                 getattr(model, 'with_mask', False))
            for _ in range(batch_size)
        ]
        self.device = torch.device('cpu')

    def forward(self, inputs: torch.Tensor):
        if self.device != inputs.device:
            self.data_samples = [s.to(inputs.device) for s in self.data_samples]
            self.device = inputs.device
        losses = self.model(inputs, self.data_samples, mode='loss')
        return self.model.parse_losses(losses)[0]


def _cls_sample(shape, num_classes, num_objects, generator, with_mask):
    from mmpretrain.structures import DataSample
    label = int(torch.randint(num_classes, (1, ), generator=generator))
    return DataSample().set_gt_label(label)


def _det_sample(shape, num_classes, num_objects, generator, with_mask):
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    h, w = shape
    size = torch.rand(num_objects, 2, generator=generator) * 0.4 + 0.1
    corner = torch.rand(num_objects, 2, generator=generator) * (1 - size)
    scale = torch.tensor([w, h], dtype=torch.float32)
    boxes = torch.cat([corner * scale, (corner + size) * scale], 1).floor()
    instances = InstanceData(
        bboxes=boxes,
        labels=torch.randint(num_classes, (num_objects, ), generator=generator))
    if with_mask:
        masks = torch.zeros(num_objects, h, w, dtype=torch.uint8)
        for mask, (x1, y1, x2, y2) in zip(masks, boxes.long().tolist()):
            mask[y1:y2, x1:x2] = 1
        instances.masks = BitmapMasks(masks.numpy(), h, w)
    sample = DetDataSample(metainfo=dict(
        img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
        batch_input_shape=(h, w), scale_factor=(1., 1.)))
    sample.gt_instances = instances
    return sample


def _seg_sample(shape, num_classes, num_objects, generator, with_mask):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    sample = SegDataSample(metainfo=dict(img_shape=shape, ori_shape=shape,
                                         pad_shape=shape))
    sample.gt_sem_seg = PixelData(data=torch.randint(
        num_classes, (1, *shape), generator=generator))
    return sample
