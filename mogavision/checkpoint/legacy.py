# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""OpenMMLab 1.x checkpoints (mmdet 2.x, mmseg 0.x, mmpose 0.x, mmcls 0.x)
and their 2.0 form."""
from collections import OrderedDict
from typing import List, Optional, Tuple

from packaging.version import InvalidVersion, Version

from .formats import unwrap_state_dict

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
