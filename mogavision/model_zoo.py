# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""The model zoo as data: ``model-index.yml`` imports one
``configs/<task>/metafile.yml`` per task (OpenMMLab's model-index format,
as mim and mmpretrain read it). Each model is named after its config and
holds the paper's results for the released weights, the paper's and our
measured params/FLOPs, and the release's weight file.

Everything that needs the zoo reads it from here: ``mogavision://<name>``
checkpoints, ``tools/analysis/get_flops.py --compare-paper`` and
``tools/analysis/model_zoo_tables.py`` (the task READMEs' tables).
"""
import difflib
import re
import os.path as osp
from functools import lru_cache
from typing import Dict, List, NamedTuple, Optional

import yaml

from mogavision.fileio import atomic_write

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
MODEL_INDEX = osp.join(REPO_ROOT, 'model-index.yml')
#: config folder -> task
TASK_DIRS = ('cls', 'det', 'seg', 'pose')


class ZooModel(NamedTuple):
    """One model of the zoo (one config)."""
    name: str
    task: str
    collection: str
    config: str  #: absolute path of the config
    metadata: dict
    results: list  #: ``[{'Task', 'Dataset', 'Metrics'}]``, the paper's
    weights: Optional[str]  #: URL of the released checkpoint, if any
    #: Which state dict of a released ``.pth.tar`` the paper reports.
    weights_key: str
    aliases: tuple  #: other ``mogavision://`` names of the same weights

    @property
    def metrics(self) -> Dict[str, float]:
        """All the paper's metrics of this row, e.g. ``{'box AP': 46.6}``."""
        return {k: v for r in self.results for k, v in r['Metrics'].items()}

    @property
    def paper_params(self) -> Optional[float]:
        """The paper's parameter count in millions (None: not in the paper)."""
        return self.metadata.get('Paper Parameters (M)')

    @property
    def paper_flops(self) -> Optional[float]:
        """The paper's FLOPs (multiply-adds) in G."""
        return self.metadata.get('Paper FLOPs (G)')

    @property
    def file_name(self) -> Optional[str]:
        return osp.basename(self.weights) if self.weights else None


def _read_yaml(path: str):
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'Model zoo file not found: {path}. mogavision reads its model '
            'zoo from the repository (install it with `pip install -e .`, '
            'as tools/setup_env.sh does).')
    with open(path) as f:
        return yaml.safe_load(f) or {}


def _parse_model(entry: dict, metafile: str) -> ZooModel:
    config = osp.join(REPO_ROOT, entry['Config'])
    task = osp.basename(osp.dirname(config))
    if task not in TASK_DIRS:
        raise ValueError(f'{metafile}: model {entry["Name"]} has config '
                         f'{entry["Config"]} outside configs/<task>/ '
                         f'(tasks: {", ".join(TASK_DIRS)}).')
    metadata = entry.get('Metadata') or {}
    return ZooModel(
        name=entry['Name'], task=task, collection=entry.get('In Collection'),
        config=config, metadata=metadata, results=entry.get('Results') or [],
        weights=entry.get('Weights'),
        weights_key=metadata.get('Weights Key', 'state_dict'),
        aliases=tuple(metadata.get('Weights Aliases') or ()))


@lru_cache(maxsize=None)
def load_model_index(path: str = MODEL_INDEX) -> Dict[str, ZooModel]:
    """Every model of the zoo by name, in metafile order.

    Raises:
        ValueError: a name or alias appears twice.
    """
    index = _read_yaml(path)
    models, names = {}, {}
    for relative in index.get('Import', []):
        metafile = osp.join(osp.dirname(path), relative)
        for entry in _read_yaml(metafile).get('Models', []):
            model = _parse_model(entry, metafile)
            for name in (model.name, ) + model.aliases:
                if name in names:
                    raise ValueError(f'Model zoo name {name!r} appears in '
                                     f'{names[name]} and {metafile}.')
                names[name] = metafile
            models[model.name] = model
    return models


def models(task: Optional[str] = None) -> List[ZooModel]:
    """The zoo's models, of one task (``cls``/``det``/``seg``/``pose``) or all."""
    return [m for m in load_model_index().values()
            if task is None or m.task == task]


def get_model(name: str) -> ZooModel:
    """The model named ``name`` (a config name, or a weights alias such as
    ``moganet_small``).

    Raises:
        KeyError: an unknown name, with the closest known ones.
    """
    index = load_model_index()
    if name in index:
        return index[name]
    for model in index.values():
        if name in model.aliases:
            return model
    known = list(index) + [a for m in index.values() for a in m.aliases]
    close = difflib.get_close_matches(name, known, n=3)
    raise KeyError(f'{name!r} is not in the model zoo (model-index.yml)'
                   + (f'; did you mean {", ".join(close)}?' if close else '')
                   + f' Known: {", ".join(sorted(known))}.')


def released_model(name: str) -> ZooModel:
    """The model named ``name``, which must have released weights.

    Raises:
        KeyError: unknown name, or a row the release published no file for
            (the message lists the rows of that task that have one).
    """
    model = get_model(name)
    if not model.weights:
        with_weights = [m.name for m in models(model.task) if m.weights]
        raise KeyError(
            f'The release published no checkpoint for {model.name}. Rows '
            f'of the {model.task} zoo with released weights: '
            f'{", ".join(with_weights)}.')
    return model


def paper_row(config_name: str) -> Optional[dict]:
    """The paper's figures for a config name (without ``.py``): ``params``
    (M), ``flops`` (G) and the metrics; None when the paper has no row."""
    model = load_model_index().get(config_name)
    if model is None or model.paper_params is None:
        return None
    return dict(params=model.paper_params, flops=model.paper_flops,
                **model.metrics)


class _MetafileDumper(yaml.SafeDumper):
    """YAML in the layout of OpenMMLab's metafiles (indented lists, no
    anchors)."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)

    def ignore_aliases(self, data):
        return True


def metafile_path(task: str) -> str:
    return osp.join(REPO_ROOT, 'configs', task, 'metafile.yml')


def record_measurements(task: str, measured: Dict[str, dict]):
    """Write measured ``Parameters``/``FLOPs`` (``{name: {'params': int,
    'flops': int or None}}``) into ``configs/<task>/metafile.yml``, keeping
    everything else (and its leading comment) as it is."""
    path = metafile_path(task)
    with open(path) as f:
        text = f.read()
    header = re.match(r'(#[^\n]*\n)*', text).group(0)
    data = yaml.safe_load(text)
    for entry in data['Models']:
        if entry['Name'] in measured:
            entry['Metadata']['Parameters'] = measured[entry['Name']]['params']
            entry['Metadata']['FLOPs'] = measured[entry['Name']]['flops']
    atomic_write(header + yaml.dump(data, Dumper=_MetafileDumper,
                                    sort_keys=False, allow_unicode=True,
                                    width=120), path)
    load_model_index.cache_clear()
