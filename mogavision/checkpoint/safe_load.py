# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Loading checkpoints without running their code.

torch >= 2.6 unpickles with ``weights_only=True``. mmengine Runner
checkpoints and the released MogaNet files need a few more types than torch
allows by default; :func:`register_safe_globals` allow-lists exactly those,
and nothing executable. A checkpoint asking for any other global is refused
before anything runs, by a message naming the file and the global.
"""
import argparse
import codecs
import os.path as osp
import re
from typing import Optional

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

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
