# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Layer-wise learning-rate decay as the MogaNet release uses it for the
Cascade Mask R-CNN GIoU B/L rows."""
from typing import List

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor

from mogavision.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Scales each parameter's lr by ``decay_rate ** (max_id - layer_id - 1)``
    with layer ids from ``backbone.get_layer_depth`` (or the model's own), and
    gives no weight decay to biases and to parameters that are 1-D once
    squeezed (``param.squeeze().ndim == 1``, as the release).

    ``paramwise_cfg`` keys:

    - ``decay_rate`` (float): Per-layer decay. Required.
    - ``num_layers`` (int, optional): Layer split of the backbone; overrides
      its ``layer_decay_num_layers`` (12 in the release).

    Example:
        >>> optim_wrapper = dict(
        ...     type='OptimWrapper',
        ...     constructor='mogavision.LayerDecayOptimWrapperConstructor',
        ...     optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
        ...     paramwise_cfg=dict(decay_rate=0.8, num_layers=12))
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: dict = None):
        paramwise_cfg = dict(paramwise_cfg or {})
        unknown = set(paramwise_cfg) - {'decay_rate', 'num_layers'}
        if 'decay_rate' not in paramwise_cfg or unknown:
            raise KeyError(
                'LayerDecayOptimWrapperConstructor needs paramwise_cfg with '
                f"'decay_rate' and optionally 'num_layers'; got "
                f'{sorted(paramwise_cfg)}.')
        self.decay_rate = paramwise_cfg['decay_rate']
        self.num_layers = paramwise_cfg.get('num_layers')
        super().__init__(optim_wrapper_cfg, paramwise_cfg=paramwise_cfg)

    def _layer_depth_fn(self, module: nn.Module):
        backbone = getattr(module, 'backbone', None)
        if backbone is not None and hasattr(backbone, 'get_layer_depth'):
            owner, prefix = backbone, 'backbone.'
        elif hasattr(module, 'get_layer_depth'):
            owner, prefix = module, ''
        else:
            raise TypeError(
                f'{type(module).__name__} has no backbone.get_layer_depth(); '
                'layer-wise lr decay needs a backbone such as MogaNet.')
        if self.num_layers is not None:
            if not hasattr(owner, 'layer_decay_num_layers'):
                raise TypeError(f'{type(owner).__name__} does not take '
                                'paramwise_cfg.num_layers.')
            owner.layer_decay_num_layers = self.num_layers
        return lambda name: owner.get_layer_depth(name, prefix)

    def add_params(self, params: List[dict], module: nn.Module, **kwargs):
        layer_depth = self._layer_depth_fn(module)
        groups = {}
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            # The release's rule: 1-D after squeezing, so the (1, C, 1, 1)
            # layer scales, ElementScale scales and the FFN's decompose conv
            # weight get no decay either.
            no_decay = param.squeeze().ndim == 1 or name.endswith('.bias')
            layer_id, max_id = layer_depth(name)
            key = (layer_id, no_decay)
            if key not in groups:
                scale = self.decay_rate**(max_id - layer_id - 1)
                groups[key] = dict(
                    params=[], param_names=[], layer_id=layer_id,
                    lr=self.base_lr * scale, lr_scale=scale,
                    weight_decay=0. if no_decay else (self.base_wd or 0.))
            groups[key]['params'].append(param)
            groups[key]['param_names'].append(name)
        for (layer_id, no_decay), group in sorted(groups.items()):
            print_log(f'layer {layer_id} ({"no " if no_decay else ""}decay): '
                      f'{len(group["params"])} params, lr={group["lr"]:.3g}, '
                      f'weight_decay={group["weight_decay"]}',
                      logger='current', level=10)
            params.append(group)
