# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""The containers checkpoints come in: timm ``.pth.tar`` (``state_dict`` and
possibly ``state_dict_ema``), raw state dicts, ``model``-keyed files,
(D)DP-wrapped keys, and the release's ImageNet classifiers."""
from collections import OrderedDict
from typing import Dict

import torch


#: Keys of a checkpoint that hold a state dict, in order of preference.
STATE_DICT_KEYS = ('state_dict', 'model', 'module')


def unwrap_state_dict(checkpoint, use_ema: bool = False) -> Dict[str, torch.Tensor]:
    """The state dict inside a checkpoint of any supported container format.

    Args:
        checkpoint (dict): What ``torch.load`` returned.
        use_ema (bool): Take ``state_dict_ema`` (timm EMA weights). An error
            if the checkpoint has none.
    """
    if not isinstance(checkpoint, dict):
        raise TypeError(f'A checkpoint must be a dict, got {type(checkpoint)}.')
    if use_ema:
        if 'state_dict_ema' not in checkpoint:
            raise KeyError('use_ema=True but the checkpoint has no '
                           f"'state_dict_ema' (keys: {sorted(checkpoint)[:10]}).")
        return checkpoint['state_dict_ema']
    for key in STATE_DICT_KEYS:
        if key in checkpoint and isinstance(checkpoint[key], dict):
            return checkpoint[key]
    return checkpoint


def strip_wrapper_prefix(state_dict: dict) -> dict:
    """Drop the ``module.`` prefix of (D)DP-saved keys, as mmengine's
    ``_load_checkpoint_to_model`` does by default."""
    if not any(k.startswith('module.') for k in state_dict):
        return state_dict
    return OrderedDict((k[len('module.'):] if k.startswith('module.') else k,
                        v) for k, v in state_dict.items())


def convert_release_classifier(checkpoint: dict, use_ema: bool = False):
    """Turn a released classification checkpoint into an mmpretrain
    ``ImageClassifier`` state dict: ``backbone.*`` + ``head.fc.*``.

    Returns:
        tuple: ``(state_dict, mapping)`` where ``mapping`` lists
        ``(source_key, target_key)`` pairs.
    """
    source = unwrap_state_dict(checkpoint, use_ema=use_ema)
    # imported here: mogavision.models registers MogaNet in every toolbox,
    # which ``import mogavision`` (loading this package) need not pay for
    from mogavision.models.backbones.moganet_keys import (
        detect_backbone_prefix, filter_backbone_state_dict)
    backbone, dropped = filter_backbone_state_dict(source)
    out, mapping = OrderedDict(), []
    src_prefix = detect_backbone_prefix(source)
    for key, value in backbone.items():
        out[f'backbone.{key}'] = value
        mapping.append((src_prefix + key, f'backbone.{key}'))
    head_keys = {'head.weight': 'head.fc.weight', 'head.bias': 'head.fc.bias',
                 'head.fc.weight': 'head.fc.weight',
                 'head.fc.bias': 'head.fc.bias'}
    unknown = []
    for key in dropped:
        if key in head_keys:
            out[head_keys[key]] = source[key]
            mapping.append((key, head_keys[key]))
        else:
            unknown.append(key)
    if unknown:
        raise KeyError(f'Unexpected keys in the classification checkpoint '
                       f'(neither backbone nor head): {unknown[:10]}')
    return out, mapping


def classifier_dataset_meta(state_dict: dict) -> dict:
    """``dataset_meta`` for a converted classifier: the ImageNet class names
    for a 1000-class head (what the inferencers show), else empty."""
    head = state_dict.get('head.fc.weight')
    if head is not None and head.shape[0] == 1000:
        from mmpretrain.datasets.categories import IMAGENET_CATEGORIES
        return dict(classes=tuple(IMAGENET_CATEGORIES))
    return {}
