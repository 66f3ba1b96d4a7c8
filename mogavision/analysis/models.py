# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""What analyses and benchmarks need to know of a config's model: the
paper's measuring size and the input channels. Models are built by
:func:`mogavision.config.build_model`."""
from typing import Tuple

import torch.nn as nn
from mmengine.config import Config

from mogavision.config import task_of

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


def input_channels(model: nn.Module) -> int:
    """Channels the model takes: those of its first convolution."""
    first_conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)),
                      None)
    return first_conv.in_channels if first_conv is not None else 3
