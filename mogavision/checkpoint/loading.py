# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Loading a checkpoint into a model with every check and one report: the
path of every tool's weights (``tools/test.py``, ``load_from``, exporters,
analysis tools) and of MogaNet's ``init_cfg`` backbone weights."""
import logging
from typing import Optional

import torch
from mmengine.logging import print_log

from .classes import check_classes, checkpoint_classes, describe_class_change
from .formats import strip_wrapper_prefix, unwrap_state_dict
from .legacy import upgrade_legacy_checkpoint
from .portable import restore_portable_types
from .report import MAX_LISTED, LoadReport, key_report
from .safe_load import load_checkpoint_file
from .sources import load_checkpoint_source, resolve_checkpoint


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
    such); missing or unexpected backbone keys are logged by name in the key
    report; a shape mismatch is an error naming the key and both shapes,
    and leaves ``model`` untouched.

    Returns:
        dict: ``missing_keys``, ``unexpected_keys`` and ``dropped_keys``.
    """
    from mogavision.models.backbones.moganet_keys import \
        filter_backbone_state_dict  # see formats.convert_release_classifier
    filename, use_ema = resolve_checkpoint(filename, use_ema)
    checkpoint = load_checkpoint_file(filename, map_location=map_location)
    state_dict, dropped = filter_backbone_state_dict(
        unwrap_state_dict(checkpoint, use_ema=use_ema), prefix=prefix)
    report = key_report(state_dict, model)
    if report.mismatched:
        raise ValueError(
            f'Checkpoint {filename} does not fit this MogaNet '
            f'(arch={getattr(model, "arch_name", "?")}); shape mismatch:\n  ' +
            '\n  '.join(report.mismatched[:MAX_LISTED]) + '\nCheck the arch '
            'of the config against the checkpoint.')
    if not state_dict:
        raise ValueError(f'Checkpoint {filename} holds no MogaNet backbone '
                         f'keys (prefix={prefix!r}); first keys: '
                         f'{list(unwrap_state_dict(checkpoint))[:5]}.')
    model.load_state_dict(state_dict, strict=False)
    print_log(
        f'Loaded MogaNet weights from {filename}'
        f'{" (EMA)" if use_ema else ""}: {len(report.used)} tensors; '
        f'{len(dropped)} non-backbone keys dropped on purpose'
        f'{" (e.g. " + ", ".join(dropped[:3]) + ")" if dropped else ""}.',
        logger=logger)
    if report.missing or report.dropped:
        print_log(report.summary(filename), logger=logger,
                  level=logging.WARNING)
    return dict(missing_keys=report.missing,
                unexpected_keys=list(report.dropped), dropped_keys=dropped)
