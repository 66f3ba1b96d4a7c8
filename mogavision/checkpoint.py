# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Checkpoint formats of MogaNet and safe loading.

* Safe loading: torch >= 2.6 unpickles with ``weights_only=True``. mmengine
  Runner checkpoints and the released MogaNet files need a few more types
  than torch allows by default; :func:`register_safe_globals` allow-lists
  exactly those, and nothing executable. A checkpoint asking for any other
  global is refused by torch before anything runs.
* Formats: the release's timm ``.pth.tar`` (``state_dict`` and possibly
  ``state_dict_ema``), raw state dicts, ``model``-keyed files and mm-style
  files whose backbone keys carry a ``backbone.`` prefix.
  :func:`filter_backbone_state_dict` maps all of them to backbone keys, in
  the manner of timm's ``checkpoint_filter_fn``.
"""
import argparse
import codecs
import logging
import os
import os.path as osp
import re
import shutil
import urllib.error
import urllib.request
import zipfile
import glob
from collections import OrderedDict
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer, print_log

#: Keys of a checkpoint that hold a state dict, in order of preference.
STATE_DICT_KEYS = ('state_dict', 'model', 'module')
#: Prefixes under which an mm-style or wrapped checkpoint keeps the backbone.
BACKBONE_PREFIXES = ('backbone.', 'module.backbone.', 'module.')
#: Top-level names of MogaNet's own parameters and buffers.
BACKBONE_ROOTS = tuple(f'{name}{i}.' for i in range(1, 5)
                       for name in ('patch_embed', 'blocks', 'norm'))


RELEASE_URL = ('https://github.com/Westlake-AI/MogaNet/releases/download/'
               'moganet-in1k-weights/')
#: ImageNet-1k weights of the release, by ``mogavision://<name>``. ``use_ema``
#: is the copy the paper reports (EMA for S and larger).
RELEASED_WEIGHTS = {
    'moganet_xtiny': dict(
        file='moganet_xtiny_sz224_8xbs128_ep300.pth.tar', use_ema=False),
    'moganet_tiny': dict(
        file='moganet_tiny_sz224_8xbs128_ep300.pth.tar', use_ema=False),
    'moganet_small': dict(
        file='moganet_small_sz224_8xbs128_ep300.pth.tar', use_ema=True),
    'moganet_base': dict(
        file='moganet_base_sz224_8xbs128_ep300.pth.tar', use_ema=True),
    'moganet_large': dict(
        file='moganet_large_sz224_8xbs64_ep300.pth.tar', use_ema=True),
    'moganet_xlarge': dict(
        file='moganet_xlarge_sz224_8xbs64_ep300.pth.tar', use_ema=True),
    'moganet_xtiny_256': dict(
        file='moganet_xtiny_sz256_8xbs128_ep300.pth.tar', use_ema=False),
    'moganet_tiny_256': dict(
        file='moganet_tiny_sz256_8xbs128_ep300.pth.tar', use_ema=False),
}
RELEASE_SCHEME = 'mogavision://'
DOWNLOAD_TIMEOUT_S = 30


def resolve_checkpoint(checkpoint: str, use_ema: Optional[bool] = None):
    """Turn ``mogavision://<name>``, an http(s) URL or a path into a local
    file (downloading into torch's hub cache once) and the EMA choice.

    Returns:
        tuple: ``(local_path, use_ema)``; ``use_ema`` defaults to the release
        table's choice for ``mogavision://`` names and to False otherwise.
    """
    if checkpoint.startswith(RELEASE_SCHEME):
        name = checkpoint[len(RELEASE_SCHEME):]
        if name not in RELEASED_WEIGHTS:
            raise KeyError(f'Unknown released weights {checkpoint!r}; known: '
                           f'{sorted(RELEASED_WEIGHTS)}.')
        entry = RELEASED_WEIGHTS[name]
        checkpoint = RELEASE_URL + entry['file']
        use_ema = entry['use_ema'] if use_ema is None else use_ema
    if checkpoint.startswith(('http://', 'https://')):
        checkpoint = _download_once(checkpoint)
    return checkpoint, bool(use_ema)


def _download_once(url: str) -> str:
    cache_dir = osp.join(torch.hub.get_dir(), 'checkpoints')
    target = osp.join(cache_dir, osp.basename(url))
    if osp.isfile(target):
        return target
    print_log(f'Downloading {url} to {target}', logger='current')
    with atomic_output(target) as partial:  # no half-written cache entry
        try:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as \
                    resp, open(partial, 'wb') as f:
                shutil.copyfileobj(resp, f)
        except (urllib.error.URLError, OSError) as exc:
            raise RuntimeError(
                f'Could not download pretrained weights {url} ({exc}). On an '
                f'offline machine, fetch the file elsewhere and put it at '
                f'{target}, or point init_cfg.checkpoint at a local file, or '
                'disable pretraining with --cfg-options '
                'model.backbone.init_cfg=None.') from exc
    return target


# HistoryBuffer fills _statistics_methods lazily (on first instance).
_BUILTIN_STATISTICS = frozenset({'min', 'max', 'current', 'mean'})


def _restricted_getattr(obj, name):
    """Stand-in for ``getattr`` while unpickling.

    mmengine's ``HistoryBuffer`` pickles its statistics methods as
    ``getattr(HistoryBuffer, 'mean')``; anything else is refused, so the
    global name ``getattr`` cannot be used to reach arbitrary callables.
    """
    allowed = _BUILTIN_STATISTICS | set(HistoryBuffer._statistics_methods)
    if obj is HistoryBuffer and name in allowed:
        return getattr(obj, name)
    raise torch.serialization.pickle.UnpicklingError(
        f'Refusing getattr({obj!r}, {name!r}) while loading a checkpoint: '
        'only HistoryBuffer statistics methods are allowed.')


def _numpy_globals():
    multiarray = np._core.multiarray if hasattr(np, '_core') else \
        np.core.multiarray
    dtype_classes = [
        type(np.dtype(t)) for t in ('b', 'B', 'h', 'H', 'i', 'I', 'l', 'L',
                                   'q', 'Q', 'e', 'f', 'd', 'g', '?', 'U',
                                   'S', 'O')
    ]
    return [multiarray._reconstruct, multiarray.scalar, np.ndarray,
            np.dtype] + dtype_classes


def safe_globals():
    """Everything beyond torch's defaults that a trusted mmengine Runner
    checkpoint or a released MogaNet checkpoint pickles."""
    return [
        HistoryBuffer,
        (_restricted_getattr, '__builtin__.getattr'),
        (_restricted_getattr, 'builtins.getattr'),
        codecs.encode,
        argparse.Namespace,
        *_numpy_globals(),
    ]


def register_safe_globals():
    """Allow-list :func:`safe_globals` for ``torch.load(weights_only=True)``
    (idempotent). Called on ``import mogavision``."""
    torch.serialization.add_safe_globals(safe_globals())


def load_checkpoint_file(filename: str, map_location='cpu') -> dict:
    """``torch.load`` under ``weights_only=True`` with readable errors.

    Raises:
        FileNotFoundError: ``filename`` does not exist.
        RuntimeError: the file is truncated/corrupt or pickles an object
            that is not allow-listed (the message says which).
    """
    if not osp.isfile(filename):
        raise FileNotFoundError(f'Checkpoint file not found: {filename}')
    register_safe_globals()
    try:
        return torch.load(filename, map_location=map_location, weights_only=True)
    except torch.serialization.pickle.UnpicklingError as exc:
        raise RuntimeError(
            f'Refused to load {filename}: it pickles objects outside the '
            f'allow-list of safe types ({exc}). Such a file can run code '
            'when loaded; re-save its tensors as a plain state dict if you '
            'trust its origin.') from exc
    except (RuntimeError, EOFError) as exc:
        raise RuntimeError(f'Could not read checkpoint {filename}: it is '
                           f'truncated or not a PyTorch file ({exc}).') from exc


#: Infix of the hidden file a write goes to before its rename into place.
PARTIAL_INFIX = '.partial-'


@contextmanager
def atomic_output(path: str) -> Iterator[str]:
    """A path beside ``path`` to write to: renamed to ``path`` when the block
    ends, deleted when it raises. Readers see the old file or the complete
    new one; a killed writer leaves only a hidden
    ``.<name>.partial-<pid>`` file (see :func:`remove_partial_files`)."""
    directory, name = osp.split(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    partial = osp.join(directory, f'.{name}{PARTIAL_INFIX}{os.getpid()}')
    try:
        yield partial
        os.replace(partial, path)
    except BaseException:
        if osp.exists(partial):
            os.remove(partial)
        raise


def atomic_write(data: Union[bytes, str], path: str):
    """Write ``data`` to ``path`` through :func:`atomic_output`, synced to
    disk before the rename."""
    with atomic_output(path) as partial:
        with open(partial, 'wb' if isinstance(data, bytes) else 'w') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def remove_partial_files(directory: str) -> List[str]:
    """Delete the partial files that killed writers left in ``directory``."""
    stale = glob.glob(osp.join(directory, f'.*{PARTIAL_INFIX}*'))
    for path in stale:
        os.remove(path)
    return stale


_STEP_CHECKPOINT = re.compile(r'^(?:iter|epoch)_(\d+)\.pth$')


def is_complete_checkpoint(path: str) -> bool:
    """Whether ``path`` is a whole torch (zip) checkpoint: the zip central
    directory, written last, is there and readable."""
    try:
        with zipfile.ZipFile(path):
            return True
    except (OSError, zipfile.BadZipFile):
        return False


def find_resumable_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint ``--resume`` should continue from, or None.

    ``work_dir/last_checkpoint`` decides when it names a complete file (it
    is the run's own record). When it is missing, empty, or names a missing
    or truncated file, the newest complete ``iter_N.pth``/``epoch_N.pth`` in
    ``work_dir`` is used instead, with a warning naming what was skipped.
    """
    record = osp.join(work_dir, 'last_checkpoint')
    named = ''
    if osp.isfile(record):
        with open(record) as f:
            named = f.read().strip()
    if named and is_complete_checkpoint(named):
        return named
    steps = []
    for name in os.listdir(work_dir) if osp.isdir(work_dir) else []:
        match = _STEP_CHECKPOINT.match(name)
        if match:
            steps.append((int(match.group(1)), osp.join(work_dir, name)))
    skipped = [f'{record} names {named!r}, which is missing or incomplete'
               ] if named or osp.isfile(record) else []
    for _, path in sorted(steps, reverse=True):
        if is_complete_checkpoint(path):
            if skipped:
                print_log('; '.join(skipped) + f'. Resuming from {path}.',
                          logger='current', level=logging.WARNING)
            return path
        skipped.append(f'{path} is incomplete')
    if skipped:
        print_log('; '.join(skipped) + '. No complete checkpoint to resume.',
                  logger='current', level=logging.WARNING)
    return None


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


def detect_backbone_prefix(state_dict: Dict[str, torch.Tensor]) -> str:
    """The prefix (one of :data:`BACKBONE_PREFIXES`, or '') under which a
    state dict keeps MogaNet's keys."""
    return next((p for p in BACKBONE_PREFIXES
                 if any(k.startswith(p + r) for k in state_dict
                        for r in BACKBONE_ROOTS)), '')


def shape_mismatches(state_dict: dict, model: torch.nn.Module):
    """``'key: checkpoint (..) vs model (..)'`` for every tensor of
    ``state_dict`` whose shape differs from the same key of ``model``."""
    own = model.state_dict()
    return [
        f'{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}'
        for k, v in state_dict.items()
        if k in own and hasattr(v, 'shape') and v.shape != own[k].shape
    ]


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


def load_backbone_checkpoint(model: torch.nn.Module,
                             filename: str,
                             prefix: Optional[str] = None,
                             use_ema: Optional[bool] = None,
                             map_location='cpu',
                             logger='current'):
    """Load a released or mm-style checkpoint into a MogaNet backbone.

    ``filename`` is a path, a URL or ``mogavision://<name>`` (see
    :data:`RELEASED_WEIGHTS`). Non-backbone keys are dropped (and logged as
    such); missing or unexpected backbone keys are logged by name; a shape
    mismatch is an error naming the key and both shapes, and leaves ``model``
    untouched.

    Returns:
        dict: ``missing_keys``, ``unexpected_keys`` and ``dropped_keys``.
    """
    filename, use_ema = resolve_checkpoint(filename, use_ema)
    checkpoint = load_checkpoint_file(filename, map_location=map_location)
    state_dict, dropped = filter_backbone_state_dict(
        unwrap_state_dict(checkpoint, use_ema=use_ema), prefix=prefix)
    mismatched = shape_mismatches(state_dict, model)
    if mismatched:
        raise ValueError(
            f'Checkpoint {filename} does not fit this MogaNet '
            f'(arch={getattr(model, "arch_name", "?")}); shape mismatch:\n  ' +
            '\n  '.join(mismatched) + '\nCheck the arch of the config against '
            'the checkpoint.')
    if not state_dict:
        raise ValueError(f'Checkpoint {filename} holds no MogaNet backbone '
                         f'keys (prefix={prefix!r}); first keys: '
                         f'{list(unwrap_state_dict(checkpoint))[:5]}.')
    result = model.load_state_dict(state_dict, strict=False)
    print_log(
        f'Loaded MogaNet weights from {filename}'
        f'{" (EMA)" if use_ema else ""}: {len(state_dict)} tensors; '
        f'{len(dropped)} non-backbone keys dropped on purpose'
        f'{" (e.g. " + ", ".join(dropped[:3]) + ")" if dropped else ""}.',
        logger=logger)
    for kind, keys in (('missing', result.missing_keys),
                       ('unexpected', result.unexpected_keys)):
        if keys:
            print_log(f'{len(keys)} {kind} keys in {filename}: '
                      f'{", ".join(keys)}', logger=logger, level=30)
    return dict(missing_keys=list(result.missing_keys),
                unexpected_keys=list(result.unexpected_keys),
                dropped_keys=dropped)


def convert_release_classifier(checkpoint: dict, use_ema: bool = False):
    """Turn a released classification checkpoint into an mmpretrain
    ``ImageClassifier`` state dict: ``backbone.*`` + ``head.fc.*``.

    Returns:
        tuple: ``(state_dict, mapping)`` where ``mapping`` lists
        ``(source_key, target_key)`` pairs.
    """
    source = unwrap_state_dict(checkpoint, use_ema=use_ema)
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


def check_checkpoint_fits_model(model: torch.nn.Module, filename: str):
    """Raise if a checkpoint for evaluation has tensors whose shapes differ
    from the model's (e.g. a head trained for another ``num_classes``):
    mmengine's non-strict loading would warn and evaluate a random head.

    Raises:
        ValueError: naming every mismatched key with both shapes.
    """
    mismatched = shape_mismatches(
        unwrap_state_dict(load_checkpoint_file(filename)), model)
    if mismatched:
        raise ValueError(
            f'Checkpoint {filename} does not fit the config\'s model:\n  ' +
            '\n  '.join(mismatched) + '\nA head of another size usually '
            'means num_classes differs between the config and the '
            'checkpoint; set it to match (e.g. --cfg-options '
            'model.head.num_classes=N) or use the right checkpoint.')
