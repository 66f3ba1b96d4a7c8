# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""The ``mogavision`` scope and its registries.

Each registry is a child of mmengine's root registry with scope
``mogavision`` and knows where its modules live, so ``type='mogavision.X'``
resolves from any OpenMMLab 2.0 scope (mmdet, mmseg, mmpose, mmpretrain)
without imports in the user's config, as ``mmpretrain.ConvNeXt`` does.
"""
from importlib import import_module

from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import Registry

MODELS = Registry(
    'model',
    parent=MMENGINE_MODELS,
    scope='mogavision',
    locations=['mogavision.models'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
    scope='mogavision',
    locations=['mogavision.engine'])
PARAM_SCHEDULERS = Registry(
    'parameter scheduler',
    parent=MMENGINE_PARAM_SCHEDULERS,
    scope='mogavision',
    locations=['mogavision.engine'])
HOOKS = Registry(
    'hook',
    parent=MMENGINE_HOOKS,
    scope='mogavision',
    locations=['mogavision.engine'])
DATASETS = Registry(
    'dataset',
    parent=MMENGINE_DATASETS,
    scope='mogavision',
    locations=['mogavision.datasets'])
TRANSFORMS = Registry(
    'transform',
    parent=MMENGINE_TRANSFORMS,
    scope='mogavision',
    locations=['mogavision.datasets'])

VISUALIZERS = Registry(
    'visualizer',
    parent=MMENGINE_VISUALIZERS,
    scope='mogavision',
    locations=['mogavision.visualization'])

#: The toolboxes whose registries also hold mogavision's modules, so that a
#: plain ``type='MogaNet'`` works in their configs after ``custom_imports``.
TOOLBOX_SCOPES = ('mmpretrain', 'mmdet', 'mmseg', 'mmpose')


def register_in_toolboxes(module_cls, registry_name: str, scopes=TOOLBOX_SCOPES):
    """Register ``module_cls`` in ``<scope>.registry.<registry_name>`` of each
    toolbox scope (forcing, so re-imports are harmless)."""
    for scope in scopes:
        registry = getattr(import_module(f'{scope}.registry'), registry_name)
        registry.register_module(module=module_cls, force=True)
    return module_cls
