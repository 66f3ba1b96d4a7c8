# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Parameters and FLOPs of any mogavision config, measured with
``mmengine.analysis`` at the size the paper measures each task at."""
from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmengine.analysis import get_model_complexity_info
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

from mogavision.engine.runtime import replace_sync_bn, task_of

#: Where the paper measures each task (H, W); classification and pose read
#: the input size from the config.
PAPER_SHAPES = {'det': (1280, 800), 'seg': (2048, 512)}


def default_shape(cfg: Config) -> Tuple[int, int]:
    """The paper's measuring size for the config's task, as (H, W)."""
    task = task_of(cfg)
    if task in PAPER_SHAPES:
        return PAPER_SHAPES[task]
    if task == 'pose':
        width, height = cfg.codec['input_size']
        return height, width
    for step in cfg.test_dataloader.dataset.pipeline:
        if step['type'] in ('CenterCrop', 'mmpretrain.CenterCrop'):
            size = step['crop_size']
            return (size, size) if isinstance(size, int) else tuple(size[::-1])
    return 224, 224


def build_model(cfg: Config) -> nn.Module:
    """The config's model in eval mode, SyncBN replaced (no pretrained load)."""
    init_default_scope(cfg.default_scope)
    model_cfg = cfg.model.copy()
    replace_sync_bn(model_cfg)
    return MODELS.build(model_cfg).eval()


def load_config_and_model(config: str,
                          checkpoint: Optional[str] = None,
                          cfg_options: Optional[dict] = None):
    """Read a config (with overrides) and build its model, loading
    ``checkpoint`` if given: a missing model key is an error, unexpected keys
    are printed.

    Returns:
        tuple: ``(cfg, model)``, the model in eval mode.
    """
    from mogavision.checkpoint import load_checkpoint_file, unwrap_state_dict
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    model = build_model(cfg)
    if checkpoint:
        state = unwrap_state_dict(load_checkpoint_file(checkpoint))
        result = model.load_state_dict(state, strict=False)
        if result.missing_keys:
            raise KeyError(f'{len(result.missing_keys)} model keys missing in '
                           f'{checkpoint}: {result.missing_keys[:5]}')
        if result.unexpected_keys:
            print(f'ignored {len(result.unexpected_keys)} unexpected keys of '
                  f'{checkpoint}: {result.unexpected_keys[:5]}')
    return cfg, model


def input_channels(model: nn.Module) -> int:
    """Channels the model takes: those of its first convolution."""
    first_conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)),
                      None)
    return first_conv.in_channels if first_conv is not None else 3


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


def complexity(cfg: Config, shape: Optional[Tuple[int, int]] = None) -> dict:
    """``params`` and ``flops`` (multiply-adds, the OpenMMLab/fvcore
    convention) of the config's model at ``shape`` (default: the paper's).

    Returns:
        dict: ``params``, ``flops``, ``shape`` and ``table`` (per module).
    """
    shape = tuple(shape or default_shape(cfg))
    task = task_of(cfg)
    model = TensorForward(build_model(cfg), task, shape)
    inputs = torch.randn(1, input_channels(model), *shape)
    with torch.no_grad():
        info = get_model_complexity_info(
            model, inputs=(inputs, ), show_table=True, show_arch=False)
    return dict(params=info['params'], flops=info['flops'], shape=shape,
                table=info['out_table'])
