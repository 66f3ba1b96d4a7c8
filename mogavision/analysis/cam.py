# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Class activation maps of image classifiers with the maintained
``pytorch-grad-cam`` package (``grad-cam`` on PyPI): target layers by
name, ``ModuleList`` stages, token (``(B, L, C)``) features, and the
heatmap over the image."""
import difflib
import math
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

#: ``--method`` name -> pytorch_grad_cam class.
CAM_METHODS = {
    'gradcam': 'GradCAM',
    'gradcam++': 'GradCAMPlusPlus',
    'scorecam': 'ScoreCAM',
    'eigencam': 'EigenCAM',
    'layercam': 'LayerCAM',
}


def cam_class(method: str):
    """The pytorch_grad_cam class of ``method`` (case-insensitive)."""
    key = method.lower()
    if key not in CAM_METHODS:
        raise ValueError(f'Unknown CAM method {method!r}; choose one of '
                         f'{", ".join(CAM_METHODS)}.')
    import pytorch_grad_cam
    return getattr(pytorch_grad_cam, CAM_METHODS[key])


def find_layer(model: nn.Module, name: str) -> Tuple[nn.Module, str]:
    """The sub-module ``name`` of ``model``; a ``ModuleList`` (a stage's
    blocks, which is never called itself) gives its last module.

    Returns:
        tuple: ``(module, resolved name)``.
    """
    modules = dict(model.named_modules())
    if name not in modules:
        close = difflib.get_close_matches(name, list(modules), n=5,
                                          cutoff=0.6)
        shallow = [n for n in modules if n and n.count('.') <= 1]
        hints = close or shallow[:8]
        raise KeyError(f'No layer {name!r} in {type(model).__name__}; valid '
                       f'names include: {", ".join(hints)}')
    layer = modules[name]
    if isinstance(layer, nn.ModuleList):
        if not len(layer):
            raise ValueError(f'{name} is an empty ModuleList.')
        return layer[-1], f'{name}.{len(layer) - 1}'
    return layer, name


def _calls(model: Callable, inputs: torch.Tensor,
           modules: Sequence[Tuple[str, nn.Module]]) -> List[tuple]:
    """``(name, output)`` of each module call during one forward, in the
    order the calls finish."""
    calls, handles = [], []
    for name, module in modules:
        handles.append(module.register_forward_hook(
            lambda m, args, out, name=name: calls.append((name, out))))
    try:
        with torch.no_grad():
            model(inputs)
    finally:
        for handle in handles:
            handle.remove()
    return calls


def _reads_a_class_token(backbone: nn.Module) -> bool:
    return bool(getattr(backbone, 'num_extra_tokens', 0)) or \
        getattr(backbone, 'out_type', None) == 'cls_token'


def default_target_layer(model: Callable, backbone: nn.Module,
                         inputs: torch.Tensor, prefix: str = 'backbone.'
                         ) -> str:
    """The layer to explain when none is named.

    ConvNets: the backbone module that finishes last among those called
    once per forward with a ``(B, C, h, w)`` output, i.e. the last stage's
    output (``backbone.norm4`` of MogaNet, ``backbone.layer4`` of ResNet).
    Class-token transformers: the first norm of the last layer
    (``backbone.layers.<last>.ln1``), since after the last attention the
    patch tokens no longer reach the class token.
    """
    if _reads_a_class_token(backbone):
        layers = getattr(backbone, 'layers', None)
        if isinstance(layers, nn.ModuleList) and len(layers) and \
                hasattr(layers[-1], 'ln1'):
            return f'{prefix}layers.{len(layers) - 1}.ln1'
        raise ValueError(
            f'{type(backbone).__name__} classifies from a class token; name '
            'the norm before its last attention with --target-layers.')
    calls = _calls(model, inputs, [(prefix + n, m)
                                   for n, m in backbone.named_modules() if n])
    counts = {}
    for name, _ in calls:
        counts[name] = counts.get(name, 0) + 1
    maps = [name for name, out in calls if counts[name] == 1
            and isinstance(out, torch.Tensor) and out.dim() == 4]
    if not maps:
        raise ValueError('Found no backbone layer with a (B, C, h, w) output; '
                         'name one with --target-layers.')
    return maps[-1]


def token_grid(num_tokens: int, height: int, width: int,
               num_extra_tokens: Optional[int] = None) -> Tuple[int, int, int]:
    """``(extra, h, w)`` of a token sequence: ``extra`` leading tokens (class
    or distillation tokens) and an ``h x w`` patch grid with the input's
    aspect ratio."""
    candidates = [num_extra_tokens] if num_extra_tokens is not None \
        else range(0, 9)
    for extra in candidates:
        patches = num_tokens - extra
        if patches <= 0:
            continue
        h = round(math.sqrt(patches * height / width))
        if h > 0 and patches % h == 0:
            return extra, h, patches // h
    raise ValueError(f'Cannot lay {num_tokens} tokens out on a grid for a '
                     f'{height}x{width} input; use a target layer with '
                     '(B, C, h, w) output.')


class FeatureMaps:
    """grad-cam's ``reshape_transform``: layer outputs as ``(B, C, h, w)``.

    ``(B, C, h, w)`` stays; ``(B, L, C)`` tokens drop their leading extra
    tokens and become ``(B, C, h, w)``; a tuple or list (a backbone's
    outputs) gives its last element.

    Args:
        input_size (tuple): ``(H, W)`` of the input.
        num_extra_tokens (int, optional): Leading non-patch tokens (a
            backbone's ``num_extra_tokens``); inferred if not given.
    """

    def __init__(self, input_size: Tuple[int, int],
                 num_extra_tokens: Optional[int] = None):
        self.input_size = input_size
        self.num_extra_tokens = num_extra_tokens

    def __call__(self, tensor):
        if isinstance(tensor, (list, tuple)):
            tensor = tensor[-1]
        if tensor.dim() == 4:
            return tensor
        if tensor.dim() == 3:
            extra, h, w = token_grid(tensor.shape[1], *self.input_size,
                                     self.num_extra_tokens)
            tokens = tensor[:, extra:]
            return tokens.reshape(tensor.shape[0], h, w,
                                  tensor.shape[2]).permute(0, 3, 1, 2)
        raise ValueError(f'Cannot read a {tensor.dim()}-d output '
                         f'{tuple(tensor.shape)} as feature maps.')


def check_target_layers(model: Callable, inputs: torch.Tensor,
                        layers: Sequence[Tuple[str, nn.Module]]):
    """Each target layer must run exactly once per forward and output a
    tensor (grad-cam hooks outputs and their gradients)."""
    calls = _calls(model, inputs, layers)
    for name, _ in layers:
        outs = [out for n, out in calls if n == name]
        if not outs:
            raise ValueError(f'Target layer {name} does not run in the '
                             'forward of the classifier.')
        if len(outs) > 1:
            raise ValueError(f'Target layer {name} runs {len(outs)} times per '
                             'forward (a shared module); choose a layer that '
                             'runs once, e.g. its parent block.')
        if not isinstance(outs[0], torch.Tensor):
            raise ValueError(
                f'Target layer {name} outputs a {type(outs[0]).__name__}, '
                'not a tensor; choose one of its sub-modules, e.g. the last '
                "stage's norm or block.")


def compute_cam(classifier: nn.Module,
                inputs: torch.Tensor,
                target_layers: Sequence[nn.Module],
                method: str = 'gradcam',
                target_class: Optional[int] = None,
                reshape_transform: Optional[Callable] = None,
                aug_smooth: bool = False,
                eigen_smooth: bool = False) -> Tuple[np.ndarray, int, float]:
    """The class activation map of one image.

    Args:
        classifier (nn.Module): ``(1, C, H, W)`` -> logits ``(1, K)``.
        inputs (torch.Tensor): The normalised image.
        target_layers (Sequence[nn.Module]): Layers whose activations (and
            gradients) make the map.
        method (str): One of :data:`CAM_METHODS`. Defaults to 'gradcam'.
        target_class (int, optional): Class to explain; the top-1
            prediction if None.
        reshape_transform (callable, optional): Layer output ->
            ``(B, C, h, w)``, e.g. :class:`FeatureMaps`.
        aug_smooth (bool): grad-cam's test-time augmentation smoothing.
        eigen_smooth (bool): grad-cam's first-principal-component smoothing.

    Returns:
        tuple: ``(cam, class, probability)``: the map ``(H, W)`` in
        [0, 1] at the input's size, the class explained and its softmax
        probability.
    """
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    cam_type = cam_class(method)
    with torch.no_grad():
        logits = classifier(inputs)
    if logits.dim() != 2:
        raise ValueError(f'The classifier must return logits (B, K), got '
                         f'{tuple(logits.shape)}.')
    scores = logits.softmax(-1)[0]
    if target_class is None:
        target_class = int(scores.argmax())
    elif not 0 <= target_class < scores.numel():
        raise ValueError(f'Target class {target_class} is out of range: the '
                         f'model has {scores.numel()} classes.')
    with cam_type(model=classifier, target_layers=list(target_layers),
                  reshape_transform=reshape_transform) as cam:
        grayscale = cam(input_tensor=inputs,
                        targets=[ClassifierOutputTarget(target_class)],
                        aug_smooth=aug_smooth, eigen_smooth=eigen_smooth)
    return grayscale[0], target_class, float(scores[target_class])


def overlay_cam(image: np.ndarray, cam: np.ndarray,
                image_weight: float = 0.5) -> np.ndarray:
    """The heatmap (JET) over the image, by grad-cam's ``show_cam_on_image``.

    Args:
        image (np.ndarray): RGB uint8 ``(H, W, 3)`` (or one channel).
        cam (np.ndarray): ``(H, W)`` in [0, 1].
        image_weight (float): Weight of the image. Defaults to 0.5.

    Returns:
        np.ndarray: RGB uint8 ``(H, W, 3)``.
    """
    from pytorch_grad_cam.utils.image import show_cam_on_image
    if image.ndim == 2 or image.shape[2] == 1:
        image = np.repeat(image.reshape(*image.shape[:2], 1), 3, axis=2)
    if image.shape[:2] != cam.shape:
        raise ValueError(f'Image {image.shape[:2]} and CAM {cam.shape} sizes '
                         'differ.')
    return show_cam_on_image(image.astype(np.float32) / 255,
                             cam.astype(np.float32), use_rgb=True,
                             image_weight=image_weight)
