# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Where checkpoints come from: local paths, http(s) URLs and
``mogavision://<name>`` (a model of the zoo), all loaded safely. Importing
this module registers both schemes with mmengine's ``CheckpointLoader``, so
the Runner's ``load_from``/``resume``, ``tools/test.py`` and the inferencers
load through :func:`~.safe_load.load_checkpoint_file` too."""
import os.path as osp
from typing import Optional

import torch
from mmengine.logging import print_log
from mmengine.runner.checkpoint import CheckpointLoader

from mogavision.fileio import download_once

from .formats import classifier_dataset_meta, convert_release_classifier
from .legacy import legacy_origin, upgrade_legacy_checkpoint
from .safe_load import check_checkpoint_file, load_checkpoint_file

RELEASE_SCHEME = 'mogavision://'


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
    return download_once(
        url, hub_cache_path(url), name,
        validate=lambda partial, url: check_checkpoint_file(
            partial, shown_as=url),  # e.g. a proxy's error page
        offline_hint=', or give a local checkpoint path instead (for '
        'backbone weights in init_cfg, disable pretraining with '
        '--cfg-options model.backbone.init_cfg=None)')


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


def load_local_checkpoint(filename: str, map_location=None) -> dict:
    """mmengine ``CheckpointLoader`` scheme for local files (the Runner's
    ``load_from``/``resume``, ``tools/test.py``, the inferencers): the same
    allow-list as torch's default, through :func:`load_checkpoint_file`, so
    a refusal names the file and what it tried to load."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return load_checkpoint_file(filename, map_location=map_location)


def load_checkpoint_source(source: str, map_location='cpu') -> dict:
    """A checkpoint from a path, a URL or ``mogavision://<name>``, loaded
    safely (what mmengine's ``load_from`` gets, with our clear errors)."""
    if source.startswith(RELEASE_SCHEME):
        return load_from_mogavision(source, map_location)
    path, _ = resolve_checkpoint(source)
    return load_checkpoint_file(path, map_location=map_location)


CheckpointLoader.register_scheme(RELEASE_SCHEME, load_from_mogavision,
                                 force=True)
CheckpointLoader.register_scheme('', load_local_checkpoint, force=True)
