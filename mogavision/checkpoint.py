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
from typing import Dict, Iterator, List, NamedTuple, Optional, Tuple, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer, print_log
from mmengine.runner.checkpoint import CheckpointLoader
from packaging.version import InvalidVersion, Version

#: Keys of a checkpoint that hold a state dict, in order of preference.
STATE_DICT_KEYS = ('state_dict', 'model', 'module')
#: Prefixes under which an mm-style or wrapped checkpoint keeps the backbone.
BACKBONE_PREFIXES = ('backbone.', 'module.backbone.', 'module.')
#: Top-level names of MogaNet's own parameters and buffers.
BACKBONE_ROOTS = tuple(f'{name}{i}.' for i in range(1, 5)
                       for name in ('patch_embed', 'blocks', 'norm'))


RELEASE_SCHEME = 'mogavision://'
DOWNLOAD_TIMEOUT_S = 30


class ModelZooError(KeyError):
    """A ``mogavision://`` name that the model zoo cannot serve."""

    def __str__(self):
        return str(self.args[0])


def resolve_checkpoint(checkpoint: str, use_ema: Optional[bool] = None):
    """Turn ``mogavision://<name>``, an http(s) URL or a path into a local
    file (downloading into torch's hub cache once) and the EMA choice.

    ``<name>`` is a model of the zoo (``configs/*/metafile.yml``): a config
    name such as ``mask_rcnn_moganet_s``, or an ImageNet weights alias such
    as ``moganet_small``.

    Returns:
        tuple: ``(local_path, use_ema)``; ``use_ema`` defaults to the copy
        the paper reports for ``mogavision://`` names, to False otherwise.
    """
    if checkpoint.startswith(RELEASE_SCHEME):
        from mogavision.model_zoo import released_model
        try:
            model = released_model(checkpoint[len(RELEASE_SCHEME):])
        except KeyError as exc:
            raise ModelZooError(f'{checkpoint}: {exc}') from None
        if use_ema is None:
            use_ema = model.weights_key == 'state_dict_ema'
        checkpoint = _download_once(model.weights, f'{checkpoint} ')
    elif checkpoint.startswith(('http://', 'https://')):
        checkpoint = _download_once(checkpoint)
    return checkpoint, bool(use_ema)


def hub_cache_path(url: str) -> str:
    """Where a downloaded checkpoint is kept: torch's hub cache."""
    return osp.join(torch.hub.get_dir(), 'checkpoints', osp.basename(url))


def _download_once(url: str, name: str = '') -> str:
    target = hub_cache_path(url)
    if osp.isfile(target):
        return target
    print_log(f'Downloading {name}{url} to {target}', logger='current')
    with atomic_output(target) as partial:  # no half-written cache entry
        try:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as \
                    resp, open(partial, 'wb') as f:
                shutil.copyfileobj(resp, f)
        except (urllib.error.URLError, OSError) as exc:
            raise RuntimeError(
                f'Could not download {name}{url} ({exc}). On an offline '
                f'machine, fetch that file elsewhere and put it at {target}, '
                'or give a local checkpoint path instead (for backbone '
                'weights in init_cfg, disable pretraining with --cfg-options '
                'model.backbone.init_cfg=None).') from exc
        check_checkpoint_file(partial, shown_as=url)  # e.g. a proxy's page
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


class NotACheckpointError(ValueError):
    """A file given as a checkpoint that is no PyTorch checkpoint at all."""


#: First bytes of a PyTorch checkpoint: a zip archive (torch >= 1.6) or a
#: pickle of protocol 2+ (the legacy format).
_CHECKPOINT_MAGIC = (b'PK\x03\x04', b'\x80')
_HTML_STARTS = (b'<!doctype', b'<html', b'<head', b'<?xml', b'<!--')


def check_checkpoint_file(filename: str, shown_as: Optional[str] = None):
    """Raise a clear error unless ``filename`` looks like a PyTorch
    checkpoint: names an empty file, a saved HTML page (a failed download)
    or a text file instead of letting ``torch.load`` fail obscurely.

    Raises:
        FileNotFoundError: no such file.
        NotACheckpointError: the file is empty, HTML, text or unknown.
    """
    shown = shown_as or filename
    if not osp.isfile(filename):
        raise FileNotFoundError(f'Checkpoint not found: {shown}')
    with open(filename, 'rb') as f:
        head = f.read(256)
    if head.startswith(_CHECKPOINT_MAGIC):
        return
    fix = ('Download it again (a browser or proxy may have saved an error '
           'page), or pass the right file.')
    if not head:
        raise NotACheckpointError(
            f'{shown} is empty (0 bytes), not a checkpoint: an interrupted '
            f'download or copy? {fix}')
    if head.lstrip().lower().startswith(_HTML_STARTS):
        raise NotACheckpointError(
            f'{shown} is an HTML page, not a checkpoint: the saved answer of '
            f'a failed download? {fix}')
    try:
        text = head.decode('utf-8')
        if not all(c.isprintable() or c in '\t\n\r' for c in text):
            raise UnicodeDecodeError('utf-8', head, 0, 1, 'control bytes')
    except UnicodeDecodeError:
        raise NotACheckpointError(
            f'{shown} is not a PyTorch checkpoint (it starts with the bytes '
            f'{head[:16]!r}; a checkpoint is a zip archive or a pickle). '
            f'{fix}') from None
    raise NotACheckpointError(
        f'{shown} is a text file, not a checkpoint (it starts with '
        f'{text[:60]!r}). {fix}')


def load_checkpoint_file(filename: str, map_location='cpu') -> dict:
    """``torch.load`` under ``weights_only=True`` with readable errors.

    Raises:
        FileNotFoundError: ``filename`` does not exist.
        NotACheckpointError: it is empty, an HTML page or a text file.
        RuntimeError: the file is truncated/corrupt or pickles an object
            that is not allow-listed (the message says which).
    """
    check_checkpoint_file(filename)
    register_safe_globals()
    try:
        return torch.load(filename, map_location=map_location, weights_only=True)
    except torch.serialization.pickle.UnpicklingError as exc:
        # torch's message advises weights_only=False, the one thing not to
        # do with this file: name only what it tried to load.
        found = re.search(r'(?:unsupported|Unsupported global:) GLOBAL '
                          r'(\S+)', str(exc))
        what = (f'the global {found.group(1)}' if found else
                'objects outside the allow-list of safe types')
        raise RuntimeError(
            f'Refused to load {filename}: it pickles {what}, outside the '
            'allow-list of safe types (tensors, numbers, plain containers). '
            'Such a file can run code when loaded; nothing of it was run. '
            'Re-save its tensors as a plain state dict if you trust its '
            'origin.') from None
    except (RuntimeError, EOFError, IndexError) as exc:
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

    ``filename`` is a path, a URL or ``mogavision://<name>`` (a model of
    :mod:`mogavision.model_zoo`; a detector's, segmentor's or pose model's
    name gives its backbone). Non-backbone keys are dropped (and logged as
    such); missing or unexpected backbone keys are logged by name; a shape
    mismatch is an error naming the key and both shapes, and leaves
    ``model`` untouched.

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


def classifier_dataset_meta(state_dict: dict) -> dict:
    """``dataset_meta`` for a converted classifier: the ImageNet class names
    for a 1000-class head (what the inferencers show), else empty."""
    head = state_dict.get('head.fc.weight')
    if head is not None and head.shape[0] == 1000:
        from mmpretrain.datasets.categories import IMAGENET_CATEGORIES
        return dict(classes=tuple(IMAGENET_CATEGORIES))
    return {}


# ---------------------------------------------------------------------------
# OpenMMLab 1.x checkpoints (mmdet 2.x, mmseg 0.x, mmpose 0.x)

#: ``meta`` key of a 1.x checkpoint -> (task, first version of the 2.0 era)
LEGACY_TOOLBOXES = {
    'mmdet_version': ('det', '3.0.0'),
    'mmseg_version': ('seg', '1.0.0'),
    'mmpose_version': ('pose', '1.0.0'),
    'mmcls_version': ('cls', '1.0.0'),
}
#: State-dict renames from 1.x to 2.0, per task, as the 2.0 toolboxes' own
#: migration does (mmpose 1.x ``BasePoseEstimator._load_state_dict_pre_hook``);
#: mmdet and mmseg kept the keys of every model in our configs.
LEGACY_KEY_RENAMES = {'pose': (('keypoint_head.', 'head.'), )}


def legacy_origin(checkpoint) -> Optional[Tuple[str, str]]:
    """``(task, 'mmdet 2.28.2')`` for a checkpoint written by an OpenMMLab
    1.x toolbox, None for any other checkpoint."""
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    if not isinstance(meta, dict) or 'dataset_meta' in meta:
        return None
    for key, (task, first_new) in LEGACY_TOOLBOXES.items():
        version = meta.get(key)
        try:
            if version and Version(str(version)) < Version(first_new):
                return task, f'{key[:-len("_version")]} {version}'
        except InvalidVersion:
            continue
    return None


def _rename_legacy_key(key: str, renames) -> str:
    for old, new in renames:
        if key.startswith(old):
            return new + key[len(old):]
    return key


def upgrade_legacy_checkpoint(checkpoint: dict) -> Tuple[dict, List[str]]:
    """The 2.0 form of an OpenMMLab 1.x checkpoint.

    State-dict keys are renamed as the 2.0 toolbox renames them (mmpose 0.x
    ``keypoint_head.*`` -> ``head.*``; the module versions in ``_metadata``
    follow), ``meta.CLASSES``/``meta.PALETTE`` become
    ``meta.dataset_meta.classes``/``palette`` (where 2.0 looks for them), and
    optimizer or other training state is left behind. Any other checkpoint
    is returned as it is.

    Returns:
        tuple: ``(checkpoint, notes)``: the 2.0 checkpoint and one line per
        change made (empty for a checkpoint that needed none).
    """
    origin = legacy_origin(checkpoint)
    if origin is None:
        return checkpoint, []
    task, toolbox = origin
    meta = checkpoint['meta']
    source = unwrap_state_dict(checkpoint)
    renames = LEGACY_KEY_RENAMES.get(task, ())
    state_dict = OrderedDict(
        (_rename_legacy_key(k, renames), v) for k, v in source.items())
    metadata = getattr(source, '_metadata', None)
    if metadata is not None:  # module versions, read by load_state_dict
        state_dict._metadata = OrderedDict(
            (_rename_legacy_key(k + '.', renames)[:-1] if k else k, v)
            for k, v in metadata.items())
    dataset_meta = {}
    if meta.get('CLASSES') is not None:
        dataset_meta['classes'] = tuple(meta['CLASSES'])
    if meta.get('PALETTE') is not None:
        dataset_meta['palette'] = [list(c) for c in meta['PALETTE']]
    notes = [f'OpenMMLab 1.x ({toolbox}) checkpoint upgraded to the 2.0 '
             'layout']
    renamed = sum(a != b for a, b in zip(source, state_dict))
    if renamed:
        notes.append(f'{renamed} keys renamed (' + ', '.join(
            f'{old}* -> {new}*' for old, new in renames) + ')')
    if dataset_meta:
        notes.append('meta.' + '/'.join(k.upper() for k in dataset_meta) +
                     ' -> meta.dataset_meta')
    left = [k for k in checkpoint if k not in ('meta', 'state_dict')]
    if left:
        notes.append(f'not loaded: {", ".join(left)} (training state)')
    legacy_meta = {k: meta[k] for k in ('mmcv_version', 'epoch', 'iter',
                                        'config') if k in meta}
    upgraded = dict(
        meta=dict(dataset_meta=dataset_meta, converted_from=toolbox,
                  legacy_meta=legacy_meta),
        state_dict=state_dict)
    return upgraded, notes


def checkpoint_classes(checkpoint: dict) -> Optional[tuple]:
    """The class names a checkpoint was trained on (2.0 ``dataset_meta`` or
    1.x ``CLASSES``), or None when it does not say."""
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    if not isinstance(meta, dict):
        return None
    classes = (meta.get('dataset_meta') or {}).get('classes', meta.get(
        'CLASSES'))
    return tuple(classes) if classes is not None else None


class ClassMismatchError(ValueError):
    """A checkpoint's class names differ from the dataset's."""


def describe_class_change(checkpoint_classes_: Optional[tuple],
                          dataset_classes: Optional[tuple],
                          source: str) -> Optional[str]:
    """How the dataset's class names differ from a checkpoint's (both named,
    with the first difference), or None when they agree or one is
    unknown."""
    if checkpoint_classes_ is None or dataset_classes is None:
        return None
    ours, theirs = tuple(checkpoint_classes_), tuple(dataset_classes)
    if ours == theirs:
        return None
    first = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b),
                 min(len(ours), len(theirs)))
    at = (f'first difference at index {first}: {ours[first]!r} vs '
          f'{theirs[first]!r}' if first < min(len(ours), len(theirs)) else
          f'the same first {first} names')
    return (f'{source} was trained on {len(ours)} classes '
            f'{list(ours[:4])}... but the dataset has {len(theirs)} '
            f'{list(theirs[:4])}... ({at})')


def check_classes(checkpoint_classes_: Optional[tuple],
                  dataset_classes: Optional[tuple], source: str):
    """Raise when both class lists are known and differ, naming both."""
    change = describe_class_change(checkpoint_classes_, dataset_classes,
                                   source)
    if change is not None:
        raise ClassMismatchError(
            f'{change}. Evaluate it on the dataset it was trained for (or set '
            'the dataset\'s metainfo classes to match), or override the check '
            'with --allow-class-mismatch. (Fine-tuning it on other classes '
            'with tools/train.py needs no flag: head tensors of another size '
            'are re-initialised.)')


# ---------------------------------------------------------------------------
# Checking and reporting what a checkpoint gives a model


#: Tensors an error message lists at most (the log has them all).
MAX_LISTED = 10
#: Top-level model parts that are no head: a tensor of another size there
#: means another architecture, never another class or keypoint count.
NON_HEAD_ROOTS = ('backbone', 'neck', 'data_preprocessor')


class LoadReport(NamedTuple):
    """What loading a state dict into a model uses and leaves."""
    used: List[str]
    dropped: Dict[str, str]  #: checkpoint key -> why it is not loaded
    missing: List[str]  #: model keys the checkpoint does not have
    mismatched: List[str]  #: 'key: checkpoint (..) vs model (..)'
    #: head tensors of another size, left at their initialisation
    #: (fine-tuning), as 'key: checkpoint (..) vs model (..)'
    reinitialised: List[str] = []

    def summary(self, source: str) -> str:
        total = (len(self.used) + len(self.dropped) + len(self.mismatched) +
                 len(self.reinitialised))
        lines = [f'{source}: {len(self.used)} of {total} checkpoint tensors '
                 f'loaded; {len(self.missing)} model keys missing']
        for key, why in self.dropped.items():
            lines.append(f'  dropped {key}: {why}')
        for line in self.mismatched:
            lines.append(f'  shape mismatch {line}')
        for key in self.missing:
            lines.append(f'  missing {key}')
        if self.reinitialised:
            lines.append(
                f'  fine-tuning: {len(self.reinitialised)} head tensors of '
                'another size (another class or keypoint count) are left at '
                'their initialisation:')
            lines += [f'    {line}' for line in self.reinitialised]
        return '\n'.join(lines)


def _why_dropped(key: str, own: dict) -> str:
    root = key.split('.', 1)[0]
    if not any(k.startswith(root + '.') for k in own):
        return f'this model has no {root}'
    if key.endswith('num_batches_tracked'):
        return 'BN step counter that this model\'s norm layer does not keep'
    return 'this model has no such parameter or buffer'


def key_report(state_dict: Dict[str, torch.Tensor],
               model: torch.nn.Module,
               reinit_heads: bool = False) -> LoadReport:
    """Every key of ``state_dict`` as used, dropped (with the reason) or
    mismatched against ``model``, and the model keys it lacks. With
    ``reinit_heads``, head tensors (outside :data:`NON_HEAD_ROOTS`) of
    another shape are listed as ``reinitialised``, not ``mismatched``."""
    own = model.state_dict()
    used, dropped, mismatched, reinitialised = [], {}, [], []
    for key, value in state_dict.items():
        if key not in own:
            dropped[key] = _why_dropped(key, own)
        elif hasattr(value, 'shape') and value.shape != own[key].shape:
            is_head = key.split('.', 1)[0] not in NON_HEAD_ROOTS
            (reinitialised if reinit_heads and is_head else mismatched).append(
                f'{key}: checkpoint {tuple(value.shape)} vs '
                f'model {tuple(own[key].shape)}')
        else:
            used.append(key)
    missing = [k for k in own if k not in state_dict]
    return LoadReport(used, dropped, missing, mismatched, reinitialised)


def strip_wrapper_prefix(state_dict: dict) -> dict:
    """Drop the ``module.`` prefix of (D)DP-saved keys, as mmengine's
    ``_load_checkpoint_to_model`` does by default."""
    if not any(k.startswith('module.') for k in state_dict):
        return state_dict
    return OrderedDict((k[len('module.'):] if k.startswith('module.') else k,
                        v) for k, v in state_dict.items())


def prepare_checkpoint(checkpoint: dict,
                       model: torch.nn.Module,
                       source: str,
                       dataset_classes: Optional[tuple] = None,
                       allow_class_mismatch: bool = False,
                       allow_missing_keys: bool = False,
                       fine_tuning: bool = False,
                       logger='current') -> LoadReport:
    """Make ``checkpoint`` (what ``torch.load`` returned) ready to load into
    ``model``, in place, and check it; the one path every tool's weights
    take (``tools/test.py``, ``load_from``, exporters, analysis tools).

    Restores the portable types of our own checkpoints, upgrades OpenMMLab
    1.x checkpoints (:func:`upgrade_legacy_checkpoint`), checks the class
    names against ``dataset_classes``, and logs a key report: every tensor
    used or dropped (and why), missing model keys, shape mismatches.

    ``fine_tuning`` (``load_from`` of ``tools/train.py``): other class names
    are reported, not refused; head tensors of another size are removed from
    the checkpoint, so they keep the model's initialisation, and listed;
    missing keys are allowed. Tensors of another size in the backbone or
    neck are still refused: they mean another architecture.

    Raises:
        ClassMismatchError: other class names, unless allowed or
            fine-tuning.
        ValueError: shape mismatches or missing model keys, unless allowed
            (mmengine's non-strict load would otherwise warn and evaluate
            randomly initialised tensors).
    """
    restore_portable_types(checkpoint)
    upgraded, notes = upgrade_legacy_checkpoint(checkpoint)
    if upgraded is not checkpoint:
        checkpoint.clear()
        checkpoint.update(upgraded)
    for note in notes:
        print_log(f'{source}: {note}.', logger=logger)
    if fine_tuning:
        change = describe_class_change(checkpoint_classes(checkpoint),
                                       dataset_classes, source)
        if change is not None:
            print_log(f'fine-tuning: {change}; the heads predict the '
                      'dataset\'s classes.', logger=logger)
    elif not allow_class_mismatch:
        check_classes(checkpoint_classes(checkpoint), dataset_classes, source)
    state_dict = unwrap_state_dict(checkpoint)
    report = key_report(strip_wrapper_prefix(state_dict), model,
                        reinit_heads=fine_tuning)
    for line in report.reinitialised:
        key = line.split(': checkpoint ', 1)[0]
        state_dict.pop(key, None)
        state_dict.pop(f'module.{key}', None)
    print_log(report.summary(source), logger=logger,
              level=logging.WARNING if report.missing or report.mismatched
              or report.dropped else logging.INFO)
    if report.mismatched:
        shown = report.mismatched[:MAX_LISTED]
        if len(report.mismatched) > len(shown):
            shown.append(f'... and {len(report.mismatched) - len(shown)} '
                         'more (all in the log above)')
        raise ValueError(
            f'Checkpoint {source} does not fit the config\'s model:\n  ' +
            '\n  '.join(shown) + '\n' + (
                'Backbone or neck tensors of another size mean another '
                'architecture: use the checkpoint of this arch (or set '
                'model.backbone.arch to the checkpoint\'s).' if fine_tuning
                else 'A head of another size usually means num_classes '
                'differs between the config and the checkpoint; set it to '
                'match (e.g. --cfg-options model.head.num_classes=N) or use '
                'the right checkpoint.'))
    if report.missing and not (allow_missing_keys or fine_tuning):
        raise ValueError(
            f'Checkpoint {source} lacks {len(report.missing)} keys of the '
            f'config\'s model (first: {", ".join(report.missing[:5])}); '
            'the model would run with random values there. Is it the '
            'checkpoint of this config?')
    return report


# ---------------------------------------------------------------------------
# Portable checkpoints: loadable by plain ``torch.load`` (weights_only)

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


# ---------------------------------------------------------------------------
# ``mogavision://`` for mmengine: load_from, inferencers, load_checkpoint


def load_from_mogavision(filename: str, map_location=None) -> dict:
    """mmengine ``CheckpointLoader`` scheme for ``mogavision://<name>``:
    the released checkpoint of a model-zoo row in the 2.0 layout (1.x
    downstream files upgraded; the timm ImageNet files as mmpretrain
    ``ImageClassifier`` state dicts, EMA where the paper reports it)."""
    from mogavision.model_zoo import get_model
    path, use_ema = resolve_checkpoint(filename)
    checkpoint = load_checkpoint_file(path, map_location=map_location or 'cpu')
    if get_model(filename[len(RELEASE_SCHEME):]).task == 'cls' and \
            legacy_origin(checkpoint) is None:
        state_dict, _ = convert_release_classifier(checkpoint, use_ema)
        return dict(meta=dict(converted_from='MogaNet release (timm)',
                              dataset_meta=classifier_dataset_meta(
                                  state_dict)), state_dict=state_dict)
    upgraded, notes = upgrade_legacy_checkpoint(checkpoint)
    for note in notes:  # said here: the checked load sees a 2.0 file
        print_log(f'{filename}: {note}.', logger='current')
    return upgraded


CheckpointLoader.register_scheme(RELEASE_SCHEME, load_from_mogavision,
                                 force=True)


def load_local_checkpoint(filename: str, map_location=None) -> dict:
    """mmengine ``CheckpointLoader`` scheme for local files (the Runner's
    ``load_from``/``resume``, ``tools/test.py``, the inferencers): the same
    allow-list as torch's default, through :func:`load_checkpoint_file`, so
    a refusal names the file and what it tried to load."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return load_checkpoint_file(filename, map_location=map_location)


CheckpointLoader.register_scheme('', load_local_checkpoint, force=True)


def load_checked_weights(model: torch.nn.Module, source: str,
                         dataset_classes: Optional[tuple] = None,
                         map_location='cpu', logger='current') -> dict:
    """Load the checkpoint ``source`` (path, URL or ``mogavision://<name>``)
    into ``model`` the way ``tools/test.py`` does (see
    :func:`prepare_checkpoint`) and return it (for its ``meta``)."""
    checkpoint = load_checkpoint_source(source, map_location=map_location)
    prepare_checkpoint(checkpoint, model, source=source,
                       dataset_classes=dataset_classes, logger=logger)
    model.load_state_dict(strip_wrapper_prefix(unwrap_state_dict(checkpoint)),
                          strict=False)
    return checkpoint


def load_checkpoint_source(source: str, map_location='cpu') -> dict:
    """A checkpoint from a path, a URL or ``mogavision://<name>``, loaded
    safely (what mmengine's ``load_from`` gets, with our clear errors)."""
    if source.startswith(RELEASE_SCHEME):
        return load_from_mogavision(source, map_location)
    path, _ = resolve_checkpoint(source)
    return load_checkpoint_file(path, map_location=map_location)
