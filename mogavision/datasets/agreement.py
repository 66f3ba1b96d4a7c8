# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Checks that a config's datasets, their metainfo and the model's heads
agree, each error naming the config key and the fix.

The mistakes these catch surface otherwise deep inside training or as a wrong
metric: a head left at 80 classes on a 2-class dataset trains silently, a
pose head of 17 channels on a 5-keypoint set fails in the loss, a label map
value past the classes is an index error on a GPU.

* :func:`check_config_agreement` reads only the config; every tool runs it
  before it builds anything.
* :func:`check_built_dataset` needs the built dataset (empty after filtering,
  classes inferred from folders, label map values); ``tools/train.py`` and
  ``tools/test.py`` run it before the first iteration
  (:class:`~mogavision.engine.hooks.DatasetChecksHook`), and
  ``tools/misc/browse_dataset.py`` before drawing.
"""
import os.path as osp
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.config import Config

from mogavision.config import (SPLITS, dataset_metainfo, keyed_dicts,
                               split_datasets, task_of)

#: Model parts whose ``num_classes`` is not the dataset's (RPN: object or
#: not) or that hold no head (train/test settings).
NOT_CLASS_HEADS = ('rpn_head', 'train_cfg', 'test_cfg')
#: Label maps read by :func:`check_label_maps` at most (spread evenly).
MAX_LABEL_MAPS = 500


class DataAgreementError(ValueError):
    """A dataset, its metainfo and the model's heads disagree."""


def head_class_counts(cfg: Config) -> List[Tuple[str, int]]:
    """``(config key, value)`` of every ``num_classes`` that must equal the
    dataset's class count: each head (every Cascade stage, decode and
    auxiliary heads; not the RPN) and the classifier's data preprocessor
    (mixup/cutmix one-hot labels)."""
    counts = []
    for root in ('model', 'data_preprocessor'):
        for path, node in keyed_dicts(cfg.get(root), root):
            parts = path.split('.')
            if any(part in NOT_CLASS_HEADS for part in parts):
                continue
            if isinstance(node.get('num_classes'), int):
                counts.append((f'{path}.num_classes', node['num_classes']))
    return counts


def check_head_classes(counts: Sequence[Tuple[str, int]],
                       classes: Sequence[str], where: str, note: str = ''):
    """Raise, naming every head key and the fix, when a ``num_classes`` in
    ``counts`` differs from ``len(classes)``; ``where`` says whose classes
    they are, ``note`` where they came from."""
    wrong = [(key, value) for key, value in counts if value != len(classes)]
    if not wrong:
        return
    shown = ', '.join(repr(c) for c in list(classes)[:5])
    more = ', ...' if len(classes) > 5 else ''
    heads = ', '.join(f'{key}={value}' for key, value in wrong)
    fix = ' '.join(f'{key}={len(classes)}' for key, _ in wrong)
    raise DataAgreementError(
        f'{heads}, but {where} has {len(classes)} classes ({shown}{more})'
        f'{note}. '
        f'Every head must predict the dataset\'s classes: set {fix} in the '
        f'config (or --cfg-options {fix}), or give the dataset the classes '
        'the heads predict (metainfo=dict(classes=(...))).')


def check_topk(cfg: Config, num_classes: int, where: str):
    """Raise when a classification evaluator asks for top-k accuracy with
    k above the dataset's class count (mmpretrain fails after the first
    epoch)."""
    for split in ('val', 'test'):
        evaluators = cfg.get(f'{split}_evaluator') or []
        for key, evaluator in keyed_dicts(evaluators, f'{split}_evaluator'):
            topk = evaluator.get('topk')
            topk = (topk, ) if isinstance(topk, int) else tuple(topk or ())
            if topk and max(topk) > num_classes:
                fit = tuple(k for k in topk if k <= num_classes) or (1, )
                raise DataAgreementError(
                    f'{key}.topk={topk} asks for top-{max(topk)} accuracy, '
                    f'but {where} has {num_classes} classes: set '
                    f'{key}.topk={fit} (or --cfg-options '
                    f'"{key}.topk={fit}").')


def _check_classes(cfg: Config, task: str, counts, classes: Sequence[str],
                   source: str, note: str = ''):
    check_head_classes(counts, classes, source, note)
    if task == 'cls':
        check_topk(cfg, len(classes), source)


def _default_classes_note(split: str, where: str) -> str:
    if where == 'metainfo':
        return ''
    return (f', {where}: set {split}_dataloader.dataset.metainfo='
            'dict(classes=(...)) for your own classes')


def check_config_agreement(cfg: Config):
    """The checks that need only the config: every head's ``num_classes``
    against each split's class names, or, for pose, the head's
    ``out_channels`` against each split's keypoint metainfo (keypoint ids,
    flip pairs, sigmas and weights consistent)."""
    task = task_of(cfg)
    counts = [] if task == 'pose' else head_class_counts(cfg)
    for split in SPLITS:
        for dataset in split_datasets(cfg, split):
            metainfo, where = dataset_metainfo(cfg, dataset)
            if task == 'pose':
                check_pose_head(cfg, metainfo, split, where)
            elif metainfo.get('classes') is not None:
                source = f'{split}_dataloader.dataset' + (
                    '.metainfo' if where == 'metainfo' else '')
                _check_classes(cfg, task, counts, metainfo['classes'],
                               source, _default_classes_note(split, where))


# ---------------------------------------------------------------------------
# Pose: the keypoint set of a dataset_info file and the head


def load_pose_metainfo(metainfo: dict) -> Tuple[Optional[dict], str]:
    """The ``dataset_info`` a pose metainfo names (``from_file``, resolved
    as mmpose does, falling back to mmpose's own dataset files), or the
    inline one, and the file it came from (None without keypoints)."""
    if 'from_file' in metainfo:
        path = metainfo['from_file']
        if not osp.isfile(path):
            import mmpose
            packaged = osp.join(osp.dirname(mmpose.__file__), '.mim',
                                'configs', '_base_', 'datasets',
                                osp.basename(path))
            if not osp.isfile(packaged):
                raise FileNotFoundError(
                    f'The keypoint metainfo file {path} (metainfo.from_file) '
                    'does not exist; write it (see docs/own_data.md) or fix '
                    'the path.')
            path = packaged
        return Config.fromfile(path).get('dataset_info'), path
    if 'keypoint_info' in metainfo:
        return metainfo, 'the inline metainfo'
    return None, ''


def keypoint_problems(info: dict) -> List[str]:
    """What is inconsistent in a ``dataset_info``: keypoint ids that are not
    0..K-1, swap (flip) names that are no keypoint or not mutual, skeleton
    links to unknown keypoints, sigmas or joint weights of another
    length."""
    keypoints = info.get('keypoint_info') or {}
    num = len(keypoints)
    problems = []
    if sorted(keypoints) != list(range(num)):
        problems.append(f'keypoint_info ids are {sorted(keypoints)}, not '
                        f'0..{num - 1}')
    names = {kpt['name']: kpt for kpt in keypoints.values()}
    for kpt in keypoints.values():
        swap = kpt.get('swap', '')
        if not swap or swap == kpt['name']:
            continue
        if swap not in names:
            problems.append(f'keypoint {kpt["name"]!r} swaps with {swap!r}, '
                            f'which is no keypoint name ({sorted(names)})')
        elif names[swap].get('swap', '') != kpt['name']:
            problems.append(
                f'keypoint {kpt["name"]!r} swaps with {swap!r} but '
                f'{swap!r} swaps with {names[swap].get("swap", "")!r}: flip '
                'pairs must be mutual')
    for link in (info.get('skeleton_info') or {}).values():
        unknown = [n for n in link.get('link', ()) if n not in names]
        if unknown:
            problems.append(f'skeleton link {tuple(link["link"])} names '
                            f'unknown keypoints {unknown}')
    for key in ('sigmas', 'joint_weights'):
        values = info.get(key)
        if values is None:
            problems.append(f'{key} is missing (one value per keypoint)')
        elif len(values) != num:
            problems.append(f'{key} has {len(values)} values for {num} '
                            'keypoints')
    return problems


def check_pose_head(cfg: Config, metainfo: dict, split: str, where: str):
    """Raise when a split's keypoint metainfo is inconsistent or the pose
    head's ``out_channels`` is not its keypoint count."""
    info, source = load_pose_metainfo(metainfo)
    if info is None:
        return
    problems = keypoint_problems(info)
    if problems:
        raise DataAgreementError(
            f'The keypoint metainfo of {split}_dataloader.dataset ({source}) '
            'is inconsistent:\n  ' + '\n  '.join(problems) +
            '\nFix the dataset_info file (see docs/own_data.md).')
    num = len(info['keypoint_info'])
    head = cfg.model.get('head') or {}
    out_channels = head.get('out_channels')
    if isinstance(out_channels, int) and out_channels != num:
        raise DataAgreementError(
            f'model.head.out_channels={out_channels}, but {split}_dataloader'
            f'.dataset has {num} keypoints ({where}: {source}). The head '
            f'predicts one heatmap per keypoint: set model.head.out_channels='
            f'{num} (or --cfg-options model.head.out_channels={num}).')


# ---------------------------------------------------------------------------
# Built datasets


def leaf_dataset_objects(dataset) -> Iterator:
    """Built datasets under mmengine's dataset wrappers."""
    if hasattr(dataset, 'datasets'):
        for sub in dataset.datasets:
            yield from leaf_dataset_objects(sub)
    elif hasattr(dataset, 'dataset'):
        yield from leaf_dataset_objects(dataset.dataset)
    else:
        yield dataset


def _describe_source(dataset) -> str:
    parts = [f'{type(dataset).__name__}']
    for attr in ('ann_file', 'data_root'):
        value = getattr(dataset, attr, None)
        if value:
            parts.append(f'{attr}={value}')
    prefix = getattr(dataset, 'data_prefix', None)
    if prefix:
        parts.append(f'data_prefix={prefix}')
    return ', '.join(parts)


def empty_dataset_message(dataset, loaded: int, split: str = '') -> str:
    """Why a dataset has no samples: its files, and the filter that removed
    the ``loaded`` ones, if any."""
    filter_cfg = getattr(dataset, 'filter_cfg', None)
    classes = (getattr(dataset, 'metainfo', None) or {}).get('classes')
    if not loaded:
        why = 'no samples were found there'
    else:
        why = (f'{loaded} samples were read, and filter_cfg='
               f'{dict(filter_cfg or {})} removed every one (with '
               'filter_empty_gt an image needs an annotation of one of the '
               f'classes {list(classes or [])[:5]}: are these the category '
               'names of the annotations?)')
    where = f'{split}_dataloader.dataset' if split else 'The dataset'
    return (f'{where} is empty ({_describe_source(dataset)}): {why}. Check '
            'the paths, the file suffixes and metainfo.classes.')


def check_not_empty(dataset, split: str):
    """Raise when a built dataset has no samples, naming its files."""
    if len(dataset) == 0:
        raise DataAgreementError(empty_dataset_message(dataset, 0, split))


def read_label_map(path: str, reduce_zero_label: bool,
                   label_map: Optional[dict],
                   backend: str = 'pillow') -> np.ndarray:
    """A label map as mmseg's ``LoadAnnotations`` makes it (uint8,
    ``reduce_zero_label``, then ``label_map``)."""
    import mmcv
    from mmengine import fileio
    seg = mmcv.imfrombytes(fileio.get(path), flag='unchanged',
                           backend=backend).squeeze().astype(np.uint8)
    if reduce_zero_label:
        seg[seg == 0] = 255
        seg = seg - 1
        seg[seg == 254] = 255
    if label_map:
        mapped = seg.copy()
        for old, new in label_map.items():
            mapped[seg == old] = new
        seg = mapped
    return seg


def check_label_maps(dataset, num_classes: int, ignore_index: int,
                     split: str, max_files: int = MAX_LABEL_MAPS):
    """Raise when a segmentation label map (as the model sees it) holds a
    value ``>= num_classes`` that is not ``ignore_index``; reads up to
    ``max_files`` maps spread over the dataset."""
    # The data list itself is gone once the dataset serialized it.
    step = max(1, len(dataset) // max_files)
    infos = [dataset.get_data_info(i)
             for i in range(0, len(dataset), step)][:max_files]
    paths = [info['seg_map_path'] for info in infos
             if info.get('seg_map_path')]
    missing = [path for path in paths if '://' not in path
               and not osp.isfile(path)]
    if missing:
        raise DataAgreementError(
            f'{split}_dataloader.dataset: {len(missing)} of {len(paths)} '
            f'label maps checked do not exist (first: {missing[0]}). A label '
            'map is the image\'s name with seg_map_suffix='
            f'{getattr(dataset, "seg_map_suffix", "?")!r} in '
            'data_prefix.seg_map_path: set the suffix to your files\'.')
    bad = {}
    for info in infos:
        if not info.get('seg_map_path'):
            continue
        values = np.unique(read_label_map(
            info['seg_map_path'], info.get('reduce_zero_label', False),
            info.get('label_map')))
        wrong = [int(v) for v in values
                 if v >= num_classes and v != ignore_index]
        if wrong:
            bad[info['seg_map_path']] = wrong
    if not bad:
        return
    examples = '; '.join(f'{path}: {values}'
                         for path, values in list(bad.items())[:3])
    reduce = infos[0].get('reduce_zero_label', False)
    raise DataAgreementError(
        f'{split}_dataloader.dataset: {len(bad)} label maps hold values '
        f'outside 0..{num_classes - 1} that are not the ignore index '
        f'{ignore_index} ({examples}). Label values are class indices: set '
        'model.decode_head.num_classes (and auxiliary_head) to the number of '
        f'classes, mark unlabelled pixels {ignore_index}, or set '
        f'reduce_zero_label (now {reduce}) when 0 means background.')


def check_built_dataset(dataset, split: str, cfg: Config):
    """The checks that need the built dataset, for a split: not empty;
    its class names (inferred from folders, say) against the heads; for
    segmentation, the label map values."""
    task = task_of(cfg)
    counts = [] if task == 'pose' else head_class_counts(cfg)
    for leaf in leaf_dataset_objects(dataset):
        check_not_empty(leaf, split)
        classes = (getattr(leaf, 'metainfo', None) or {}).get('classes')
        if classes is not None:
            _check_classes(cfg, task, counts, classes,
                           f'{split}_dataloader.dataset '
                           f'({type(leaf).__name__})')
        if task == 'seg':
            head = cfg.model.get('decode_head') or {}
            if isinstance(head, (list, tuple)):
                head = head[-1]
            if isinstance(head.get('num_classes'), int):
                check_label_maps(leaf, head['num_classes'],
                                 head.get('ignore_index', 255), split)
