# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Building a config's model for analysis, benchmarks and export: in eval
mode, SyncBN replaced, optionally with weights."""
from typing import Optional, Tuple

import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

from mogavision.config import config_dataset_classes, task_of
from mogavision.engine.runtime import replace_sync_bn

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
    """The config's model in eval mode, SyncBN replaced (no pretrained load),
    with the config's top-level ``data_preprocessor`` where the model names
    none (as the Runner and the inferencers build it; mmpretrain configs
    keep the normalisation there)."""
    init_default_scope(cfg.default_scope)
    model_cfg = cfg.model.copy()
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    replace_sync_bn(model_cfg)
    return MODELS.build(model_cfg).eval()


def load_config_and_model(config: str,
                          checkpoint: Optional[str] = None,
                          cfg_options: Optional[dict] = None):
    """Read a config (with overrides) and build its model, loading
    ``checkpoint`` (a path, URL or ``mogavision://<name>``) if given, with
    the checks of ``tools/test.py``: 1.x checkpoints upgraded, class names
    checked against the config's dataset, a key report logged, missing keys
    and shape mismatches refused.

    Returns:
        tuple: ``(cfg, model)``, the model in eval mode.
    """
    from mogavision.checkpoint import load_checked_weights
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    model = build_model(cfg)
    if checkpoint:
        load_checked_weights(model, checkpoint,
                             dataset_classes=config_dataset_classes(cfg))
    return cfg, model


def input_channels(model: nn.Module) -> int:
    """Channels the model takes: those of its first convolution."""
    first_conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)),
                      None)
    return first_conv.in_channels if first_conv is not None else 3
