# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Checkpoints of MogaNet: formats, safe loading and the checks on loading.

* :mod:`.safe_load`: ``torch.load`` under ``weights_only=True`` with the few
  extra types Runner and release checkpoints need; clear refusals.
* :mod:`.formats`: the containers (timm, raw, ``model``-keyed, wrapped) and
  the release's ImageNet classifiers.
* :mod:`.legacy`: OpenMMLab 1.x checkpoints upgraded to the 2.0 layout.
* :mod:`.classes`: a checkpoint's class names against a dataset's.
* :mod:`.report`: what a load uses, drops and leaves.
* :mod:`.portable`: checkpoints plain ``torch.load`` reads.
* :mod:`.sources`: paths, URLs and ``mogavision://<name>``; registers both
  schemes with mmengine.
* :mod:`.loading`: the checked load of a whole model or a backbone.
* :mod:`.resume`: the checkpoint ``--resume`` continues from.

MogaNet's key filter lives beside the backbone
(:mod:`mogavision.models.backbones.moganet_keys`).
"""
from .classes import (ClassMismatchError, check_classes, checkpoint_classes,
                      describe_class_change)
from .formats import (STATE_DICT_KEYS, classifier_dataset_meta,
                      convert_release_classifier, strip_wrapper_prefix,
                      unwrap_state_dict)
from .legacy import legacy_origin, upgrade_legacy_checkpoint
from .loading import (load_backbone_checkpoint, load_checked_weights,
                      prepare_checkpoint)
from .portable import PORTABLE_KEY, make_portable, restore_portable_types
from .report import MAX_LISTED, NON_HEAD_ROOTS, LoadReport, key_report
from .resume import find_resumable_checkpoint, is_complete_checkpoint
from .safe_load import (NotACheckpointError, check_checkpoint_file,
                        load_checkpoint_file, register_safe_globals,
                        safe_globals)
from .sources import (RELEASE_SCHEME, ModelZooError, hub_cache_path,
                      load_checkpoint_source, load_from_mogavision,
                      load_local_checkpoint, resolve_checkpoint)

__all__ = [
    'ClassMismatchError', 'LoadReport', 'MAX_LISTED', 'ModelZooError',
    'NON_HEAD_ROOTS', 'NotACheckpointError', 'PORTABLE_KEY', 'RELEASE_SCHEME',
    'STATE_DICT_KEYS', 'check_checkpoint_file', 'check_classes',
    'checkpoint_classes', 'classifier_dataset_meta',
    'convert_release_classifier', 'describe_class_change',
    'find_resumable_checkpoint', 'hub_cache_path', 'is_complete_checkpoint',
    'key_report', 'legacy_origin', 'load_backbone_checkpoint',
    'load_checked_weights', 'load_checkpoint_file', 'load_checkpoint_source',
    'load_from_mogavision', 'load_local_checkpoint', 'make_portable',
    'prepare_checkpoint', 'register_safe_globals', 'resolve_checkpoint',
    'restore_portable_types', 'safe_globals', 'strip_wrapper_prefix',
    'unwrap_state_dict', 'upgrade_legacy_checkpoint'
]
