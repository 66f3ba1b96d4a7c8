# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Portable checkpoints: loadable by plain ``torch.load`` (weights_only) in a
process that never imported mogavision."""
from collections import OrderedDict

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

#: ``meta`` entry listing what :func:`make_portable` turned into plain types.
PORTABLE_KEY = 'mogavision_portable'


def _portable(value, path, record):
    if isinstance(value, HistoryBuffer):
        record.append([list(path), 'HistoryBuffer'])
        return dict(log_history=torch.from_numpy(np.array(value._log_history)),
                    count_history=torch.from_numpy(
                        np.array(value._count_history)),
                    max_length=int(value.max_length))
    if isinstance(value, np.ndarray):
        record.append([list(path), f'ndarray:{value.dtype.str}'])
        if path[:2] == ('meta', 'dataset_meta'):
            return value.tolist()  # as plain as the toolboxes read it
        return torch.from_numpy(np.array(value))
    if isinstance(value, np.generic):
        record.append([list(path), f'scalar:{value.dtype.str}'])
        return value.item()
    if isinstance(value, dict):
        out = type(value)() if isinstance(value, OrderedDict) else {}
        for key, item in value.items():
            out[key] = _portable(item, path + (key, ), record)
        return out
    if isinstance(value, (list, tuple)):
        items = [_portable(v, path + (i, ), record)
                 for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    return value


def make_portable(checkpoint: dict) -> dict:
    """Replace, in place, what only mogavision's allow-list can unpickle
    (mmengine ``HistoryBuffer`` in the message hub, numpy arrays and scalars
    in ``meta``, e.g. mmpose's ``dataset_meta``) by tensors, lists and
    numbers, recording each in ``meta['mogavision_portable']`` so that
    :func:`restore_portable_types` brings back the exact objects on resume.
    A process that never imported mogavision (a user's
    ``DetInferencer(weights=...)``) loads the file with torch's default
    ``weights_only=True``."""
    record = []
    for key in [k for k in checkpoint if k != 'state_dict']:
        checkpoint[key] = _portable(checkpoint[key], (key, ), record)
    if record:
        checkpoint.setdefault('meta', {})[PORTABLE_KEY] = record
    return checkpoint


def _restore(value, kind: str):
    if kind == 'HistoryBuffer':
        return HistoryBuffer(value['log_history'].numpy(),
                             value['count_history'].numpy(),
                             value['max_length'])
    if kind.startswith('ndarray:'):
        array = value.numpy() if torch.is_tensor(value) else value
        return np.asarray(array, dtype=np.dtype(kind[len('ndarray:'):]))
    return np.dtype(kind[len('scalar:'):]).type(value)


def _replace_at(node, path, fn):
    """``node`` with the item at ``path`` replaced by ``fn(item)``; dicts and
    lists change in place, tuples are rebuilt."""
    if not path:
        return fn(node)
    key, rest = path[0], path[1:]
    child = _replace_at(node[key], rest, fn)
    if isinstance(node, tuple):
        return node[:key] + (child, ) + node[key + 1:]
    node[key] = child
    return node


def restore_portable_types(checkpoint: dict) -> dict:
    """Undo :func:`make_portable` in place (no-op for other checkpoints)."""
    meta = checkpoint.get('meta')
    record = meta.pop(PORTABLE_KEY, None) if isinstance(meta, dict) else None
    for path, kind in record or []:
        _replace_at(checkpoint, path, lambda value: _restore(value, kind))
    return checkpoint
