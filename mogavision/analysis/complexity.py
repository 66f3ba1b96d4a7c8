# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Parameters and FLOPs of any mogavision config, measured with
``mmengine.analysis`` at the size the paper measures each task at."""
from typing import Optional, Tuple

import torch
from mmengine.analysis import get_model_complexity_info
from mmengine.config import Config

from mogavision.config import build_model, task_of
from .forward import TensorForward
from .models import default_shape, input_channels


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
