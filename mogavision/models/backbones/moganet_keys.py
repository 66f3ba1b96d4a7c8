# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""MogaNet's own keys in a checkpoint of any supported format, in the manner
of timm's ``checkpoint_filter_fn``: the release's timm files, mm-style
``backbone.``-prefixed files and (D)DP-wrapped ones."""
from collections import OrderedDict
from typing import Dict, Optional

import torch

#: Prefixes under which an mm-style or wrapped checkpoint keeps the backbone.
BACKBONE_PREFIXES = ('backbone.', 'module.backbone.', 'module.')
#: Top-level names of MogaNet's own parameters and buffers.
BACKBONE_ROOTS = tuple(f'{name}{i}.' for i in range(1, 5)
                       for name in ('patch_embed', 'blocks', 'norm'))


def detect_backbone_prefix(state_dict: Dict[str, torch.Tensor]) -> str:
    """The prefix (one of :data:`BACKBONE_PREFIXES`, or '') under which a
    state dict keeps MogaNet's keys."""
    return next((p for p in BACKBONE_PREFIXES
                 if any(k.startswith(p + r) for k in state_dict
                        for r in BACKBONE_ROOTS)), '')


def filter_backbone_state_dict(state_dict: Dict[str, torch.Tensor],
                               prefix: Optional[str] = None):
    """Map a state dict of any supported format to MogaNet backbone keys.

    Args:
        state_dict (dict): A raw state dict (see :func:`unwrap_state_dict`).
        prefix (str, optional): Keep only keys under this prefix and strip
            it. By default a ``backbone.`` (or ``module.``) prefix is
            detected and stripped.

    Returns:
        tuple: ``(backbone_state_dict, dropped_keys)``; dropped keys are
        those outside the backbone (classifier, neck, heads), removed on
        purpose.
    """
    if prefix is None:
        prefix = detect_backbone_prefix(state_dict)
    out, dropped = OrderedDict(), []
    for key, value in state_dict.items():
        if prefix and not key.startswith(prefix):
            dropped.append(key)
            continue
        name = key[len(prefix):]
        if name.startswith(BACKBONE_ROOTS):
            out[name] = value
        else:
            dropped.append(key)
    return out, dropped
