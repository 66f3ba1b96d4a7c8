# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Reading a config once and everything read from it: the file of a config
name, its task, the datasets under its dataloaders (dataset wrappers
unwrapped), their class names, every dict in it, and its model (built, and
loaded with the checks of ``tools/test.py``).

A tool parses its config once (``Config.fromfile`` +
:func:`mogavision.engine.runtime.apply_common_options`) and passes that
``Config`` down; nothing below it reads the file again."""
import copy
import os.path as osp
from importlib import import_module
from typing import Iterator, Optional, Tuple

import torch.nn as nn
from mmengine.config import Config

#: default_scope -> task name
TASKS = {'mmpretrain': 'cls', 'mmdet': 'det', 'mmseg': 'seg', 'mmpose': 'pose'}
SPLITS = ('train', 'val', 'test')


def task_of(cfg: Config) -> str:
    """The task of a config (``cls``, ``det``, ``seg`` or ``pose``)."""
    scope = cfg.get('default_scope')
    if scope not in TASKS:
        raise ValueError(
            f"Config default_scope={scope!r} is not one of {sorted(TASKS)}; "
            'mogavision tools run mmpretrain, mmdet, mmseg and mmpose configs.')
    return TASKS[scope]


def task_scope(cfg: Config) -> str:
    """The toolbox scope of a config (``mmdet``, ...), checked."""
    task_of(cfg)
    return cfg.default_scope


def keyed_dicts(node, path: str = '') -> Iterator[Tuple[str, dict]]:
    """Every dict in a nested config with its dotted key (list items by
    index, as ``--cfg-options`` takes them), outer ones first."""
    if isinstance(node, dict):
        yield path, node
        items = node.items()
    elif isinstance(node, (list, tuple)):
        items = enumerate(node)
    else:
        return
    for key, value in items:
        yield from keyed_dicts(value, f'{path}.{key}' if path else str(key))


def dicts_in(node) -> Iterator[dict]:
    """Every dict in a nested config, outer ones first."""
    return (node for _, node in keyed_dicts(node))


def leaf_datasets(dataset_cfg) -> Iterator[dict]:
    """Leaf dataset configs under dataset wrappers (``ConcatDataset``,
    ``RepeatDataset``, ``ClassBalancedDataset``, ...)."""
    if 'datasets' in dataset_cfg:
        for sub in dataset_cfg['datasets']:
            yield from leaf_datasets(sub)
    elif 'dataset' in dataset_cfg:
        yield from leaf_datasets(dataset_cfg['dataset'])
    else:
        yield dataset_cfg


def split_datasets(cfg: Config, split: str) -> Iterator[dict]:
    """The leaf dataset configs of ``<split>_dataloader`` (none without)."""
    loader = cfg.get(f'{split}_dataloader') or {}
    if loader.get('dataset'):
        yield from leaf_datasets(loader['dataset'])


def dataset_class(cfg: Config, dataset: dict):
    """The registered class of a dataset config (None for a non-string
    type)."""
    if not isinstance(dataset.get('type'), str):
        return dataset.get('type')
    scope, _, name = dataset['type'].rpartition('.')
    registry = import_module(f'{scope or task_scope(cfg)}.registry')
    return registry.DATASETS.get(name)


def dataset_metainfo(cfg: Config, dataset: dict) -> Tuple[dict, str]:
    """A dataset config's ``metainfo``, else its class's ``METAINFO``, and
    where it came from (``'metainfo'`` or ``'the default METAINFO of
    <Class>'``)."""
    if dataset.get('metainfo'):
        return dict(dataset['metainfo']), 'metainfo'
    dataset_cls = dataset_class(cfg, dataset)
    return (dict(getattr(dataset_cls, 'METAINFO', {}) or {}),
            f'the default METAINFO of {getattr(dataset_cls, "__name__", "?")}')


def built_metainfo(cfg: Config, dataset: dict) -> dict:
    """A dataset config's metainfo as the built dataset has it (what the
    Runner gives evaluators and visualizers): its class's ``METAINFO``
    updated by the config's ``metainfo``."""
    meta = dict(getattr(dataset_class(cfg, dataset), 'METAINFO', {}) or {})
    meta.update(dataset.get('metainfo') or {})
    return meta


def config_dataset_classes(cfg: Config, split: str = 'test'
                           ) -> Optional[tuple]:
    """The class names of a config's ``<split>_dataloader`` dataset without
    building it: its ``metainfo.classes``, else its class's ``METAINFO``
    (None when neither names classes)."""
    dataset = next(split_datasets(cfg, split), None)
    if dataset is None:
        return None
    classes = dataset_metainfo(cfg, dataset)[0].get('classes')
    return tuple(classes) if classes is not None else None


def resolve_config(name: str) -> str:
    """The file of a config given as a path or as ``package::rel/path.py``
    (a config shipped by an installed toolbox, e.g.
    ``mmpretrain::resnet/resnet50_8xb32_in1k.py``)."""
    if osp.isfile(name):
        return name
    if '::' in name:
        from mmengine.utils import get_installed_path, is_installed
        package, rel_path = name.split('::', 1)
        if not is_installed(package):
            raise FileNotFoundError(
                f'Config {name}: package {package!r} is not installed.')
        path = osp.join(get_installed_path(package), '.mim', 'configs',
                        rel_path)
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'Config {name}: {package} ships no {rel_path} (looked for '
                f'{path}); its configs are under {osp.dirname(path)}.')
        return path
    raise FileNotFoundError(f'Config not found: {name}')


def replace_sync_bn(node) -> int:
    """Turn every ``dict(type='SyncBN')`` in a model config into ``BN``;
    returns how many were replaced."""
    count = 0
    for norm in dicts_in(node):
        if norm.get('type') in ('SyncBN', 'MMSyncBN'):
            norm['type'] = 'BN'
            count += 1
    return count


def build_model(cfg: Config) -> nn.Module:
    """The config's model in eval mode, SyncBN replaced (no pretrained load),
    with the config's top-level ``data_preprocessor`` where the model names
    none (as the Runner and the inferencers build it; mmpretrain configs
    keep the normalisation there)."""
    from mmengine.registry import MODELS, init_default_scope
    init_default_scope(task_scope(cfg))
    model_cfg = copy.deepcopy(cfg.model)  # the caller's config stays as is
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor',
                             copy.deepcopy(cfg.data_preprocessor))
    replace_sync_bn(model_cfg)
    return MODELS.build(model_cfg).eval()


def load_model(cfg: Config, checkpoint: Optional[str] = None) -> nn.Module:
    """:func:`build_model`, then ``checkpoint`` (a path, URL or
    ``mogavision://<name>``) loaded with the checks of ``tools/test.py``:
    1.x checkpoints upgraded, class names checked against the config's
    dataset, a key report logged, missing keys and shape mismatches
    refused. The model is in eval mode."""
    model = build_model(cfg)
    if checkpoint:
        from mogavision.checkpoint import load_checked_weights
        load_checked_weights(model, checkpoint,
                             dataset_classes=config_dataset_classes(cfg))
    return model


def load_config_and_model(config: str,
                          checkpoint: Optional[str] = None,
                          cfg_options: Optional[dict] = None):
    """Read a config (a path or ``package::`` name, with overrides) and
    :func:`load_model` its model: the one call for library users and tests
    (tools run their common options in between, see the module docstring).

    Returns:
        tuple: ``(cfg, model)``, the model in eval mode.
    """
    cfg = Config.fromfile(resolve_config(config))
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg, load_model(cfg, checkpoint)
