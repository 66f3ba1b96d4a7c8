# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Reading a config: its task, the datasets under its dataloaders (dataset
wrappers unwrapped), their class names, and every dict in it."""
from importlib import import_module
from typing import Iterator, Optional, Tuple

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
