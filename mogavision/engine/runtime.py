# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Config adjustments shared by ``tools/train.py`` and ``tools/test.py``:
one entry point for the four toolboxes, decided by the config's
``default_scope``."""
import ctypes
import os.path as osp
import platform
from typing import Iterator, Tuple

import torch
from mmengine.config import Config
from mmengine.logging import print_log

from mogavision.config import (dicts_in, leaf_datasets, replace_sync_bn,
                               task_of)
from mogavision.datasets.agreement import check_config_agreement

def apply_common_options(cfg: Config, args) -> Config:
    """``--cfg-options``, ``--work-dir`` (default ``work_dirs/<config>``) and
    ``--launcher``, as every OpenMMLab tool does; then the build-time checks
    (backbone channels, dataset/head agreement), :func:`use_checked_data_loading`
    and :func:`use_parallel_roi_align`.
    A tool without one of these options (``args`` lacks it) gets its default:
    no overrides, ``work_dirs/<config>``, no launcher."""
    cfg.launcher = getattr(args, 'launcher', 'none')
    if getattr(args, 'cfg_options', None) is not None:
        cfg.merge_from_dict(args.cfg_options)
    check_backbone_consumer_channels(cfg)
    check_config_agreement(cfg)
    use_checked_data_loading(cfg, task_of(cfg))
    use_parallel_roi_align(cfg)
    if getattr(args, 'work_dir', None) is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    adapt_to_device(cfg)
    return cfg


def adapt_to_device(cfg: Config):
    """Make a GPU-oriented config run on a machine without CUDA.

    * :func:`retain_freed_memory`;
    * nccl -> gloo, and SyncBN -> BN (SyncBN has no CPU kernel), each with a
      log line;
    * with ``--launcher pytorch``: mmengine's launcher pins a CUDA device and
      wraps DDP with ``device_ids``, both of which fail on CPU, so the gloo
      process group is initialized here (the Runner then reuses it) and DDP
      is configured without device ids.
    """
    if torch.cuda.is_available():
        return
    if retain_freed_memory():
        print_log('No CUDA device: glibc keeps freed memory for reuse '
                  '(faster CPU runs).', logger='current')
    env_cfg = cfg.get('env_cfg') or {}
    dist_cfg = env_cfg.get('dist_cfg') or {}
    if dist_cfg.get('backend', 'nccl') == 'nccl':
        cfg.merge_from_dict({'env_cfg.dist_cfg.backend': 'gloo'})
        print_log('No CUDA device: distributed backend nccl -> gloo.',
                  logger='current')
    replaced = replace_sync_bn(cfg.model)
    if replaced:
        print_log(f'No CUDA device: {replaced} SyncBN norm configs converted '
                  'to BN.', logger='current')
    if cfg.launcher == 'pytorch':
        import torch.distributed as dist
        if not dist.is_initialized():
            dist.init_process_group(backend='gloo')
        wrapper = cfg.get('model_wrapper_cfg') or dict(
            type='MMDistributedDataParallel', broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
        wrapper['device_ids'] = None
        cfg.model_wrapper_cfg = wrapper
    elif cfg.launcher != 'none':
        raise RuntimeError(f'--launcher {cfg.launcher} needs CUDA devices; on '
                           'a CPU machine use --launcher pytorch '
                           '(tools/dist_train.sh).')


#: glibc ``mallopt`` parameter: free memory kept at the top of the heap
#: before it is returned to the OS.
_M_TRIM_THRESHOLD = -1


def retain_freed_memory(limit_bytes: int = 1 << 30) -> bool:
    """Let glibc keep up to ``limit_bytes`` of freed heap instead of
    returning it to the OS after every large free.

    Eager CPU inference frees and re-allocates activation buffers op after
    op; with glibc's default (dynamic) trim threshold the pages go back to
    the OS and fault in again, which cost eager MogaNet-T at batch 1 about
    a third of its speed here (12.6 -> 20.4 img/s). Does nothing off glibc.

    Returns:
        bool: Whether the setting was applied.
    """
    if platform.system() != 'Linux' or platform.libc_ver()[0] != 'glibc':
        return False
    try:
        libc = ctypes.CDLL('libc.so.6')
    except OSError:
        return False
    return bool(libc.mallopt(_M_TRIM_THRESHOLD, int(limit_bytes)))


def check_backbone_consumer_channels(cfg: Config):
    """At build time, check that what reads a MogaNet's features (the neck,
    else the decode head or head) expects the channels that its ``arch`` and
    ``out_indices`` give, and name both when not."""
    from mogavision.models import MogaNet
    model = cfg.get('model', {})
    backbone = model.get('backbone') or {}
    if 'MogaNet' not in str(backbone.get('type')):
        return
    channels = list(MogaNet.output_channels(backbone.get('arch', 'tiny'),
                                            backbone.get('out_indices', (3, ))))
    for key in ('neck', 'decode_head', 'head'):
        consumer = model.get(key)
        if isinstance(consumer, (list, tuple)):
            consumer = consumer[0] if consumer else None
        if not consumer or consumer.get('in_channels') is None:
            continue
        expected = consumer['in_channels']
        in_index = consumer.get('in_index')
        if isinstance(expected, int):
            got = channels[in_index] if isinstance(in_index, int) \
                and in_index < len(channels) else channels[-1]
            ok = expected == got
        else:
            got = [channels[i] for i in in_index] \
                if isinstance(in_index, (list, tuple)) else channels
            ok = list(expected) == list(got)
        if not ok:
            raise ValueError(
                f'model.{key}.in_channels={expected} does not match the '
                f'MogaNet features ({got}: arch={backbone.get("arch")!r}, '
                f'out_indices={backbone.get("out_indices", (3, ))}). Set '
                f'model.{key}.in_channels={got} or change out_indices.')
        return


def use_safe_checkpointing(cfg: Config):
    """Kill-proof, exactly resumable checkpoints for ``tools/train.py``:
    ``AtomicCheckpointHook`` in place of mmengine's ``CheckpointHook`` (same
    arguments) and ``RandomStateCheckpointHook`` (exact resume with drop
    path); :class:`~mogavision.engine.hooks.StopOnInvalidLossHook` stops
    at the first NaN/inf loss before its weights are saved."""
    hook = (cfg.get('default_hooks') or {}).get('checkpoint')
    if hook is not None and hook.get('type') in ('CheckpointHook',
                                                 'mmengine.CheckpointHook'):
        hook['type'] = 'mogavision.AtomicCheckpointHook'
    add_custom_hook(cfg, dict(type='mogavision.RandomStateCheckpointHook'))
    add_custom_hook(cfg, dict(type='mogavision.StopOnInvalidLossHook'))


def use_checked_checkpoints(cfg: Config, training: bool,
                            allow_class_mismatch: bool = False):
    """Add :class:`~mogavision.engine.CheckpointFormatHook`: checkpoints
    written loadable without mogavision; loaded ones (``load_from``, the
    checkpoint of ``tools/test.py``) upgraded from OpenMMLab 1.x, checked
    against the dataset's classes and reported key by key.

    Evaluation refuses other class names (unless ``allow_class_mismatch``),
    shape mismatches and missing keys; training from ``load_from`` is
    fine-tuning: other class names are reported, head tensors of another
    size keep their initialisation and are listed, missing keys are logged.
    """
    add_custom_hook(cfg, dict(
        type='mogavision.CheckpointFormatHook',
        allow_class_mismatch=allow_class_mismatch,
        fine_tuning=training))


def check_checkpoint_source(checkpoint: str) -> str:
    """Fail early, and clearly, for a checkpoint argument that cannot be
    loaded: an unknown or unreleased ``mogavision://`` name, a download
    that fails (offline: where to put the file), a missing file, or a file
    that is no checkpoint (empty, HTML, text).

    Returns:
        str: What to load from then: a ``mogavision://`` name as given (its
        loader converts the release's files to the toolbox layout), else the
        local file (a URL's download, made once).
    """
    from mogavision.checkpoint import (RELEASE_SCHEME, check_checkpoint_file,
                                       resolve_checkpoint)
    path, _ = resolve_checkpoint(checkpoint)
    check_checkpoint_file(path, shown_as=checkpoint if path != checkpoint
                          else None)
    return checkpoint if checkpoint.startswith(RELEASE_SCHEME) else path


def use_parallel_roi_align(cfg: Config):
    """Add :class:`~mogavision.engine.ParallelRoIAlignHook` to models with
    mmcv ``RoIAlign`` layers: the same results, correct with channels-last
    features, parallel on CPU."""
    if any(node.get('type') == 'RoIAlign' for node in dicts_in(cfg.model)):
        add_custom_hook(cfg, dict(type='mogavision.ParallelRoIAlignHook'))


def add_custom_hook(cfg: Config, hook: dict):
    """Append ``hook`` to ``cfg.custom_hooks`` unless one of its type is
    there already."""
    hooks = list(cfg.get('custom_hooks') or [])
    if not any(h.get('type') == hook['type'] for h in hooks):
        hooks.append(hook)
    cfg.custom_hooks = hooks


def _paths(dataset_cfg) -> Iterator[Tuple[str, str]]:
    root = dataset_cfg.get('data_root') or ''
    if dataset_cfg.get('ann_file'):
        yield 'ann_file', osp.join(root, dataset_cfg['ann_file'])
    prefix = dataset_cfg.get('data_prefix') or {}
    if isinstance(prefix, str):
        prefix = {'img_path': prefix}
    for key, value in prefix.items():
        if value:
            yield f'data_prefix.{key}', osp.join(root, value)
    if root and not dataset_cfg.get('ann_file') and not prefix:
        yield 'data_root', root
    if dataset_cfg.get('bbox_file'):
        yield 'bbox_file', dataset_cfg['bbox_file']


#: Image loaders of the toolboxes' pipelines, and dataset types (per task,
#: also under the toolbox's scope), replaced by their checked mogavision
#: versions in every tool.
CHECKED_LOADER = 'mogavision.CheckedLoadImageFromFile'
UNCHECKED_LOADERS = ('LoadImageFromFile', 'mmcv.LoadImageFromFile',
                     'LoadImage', 'mmpose.LoadImage')
CHECKED_DATASETS = {
    'det': {'CocoDataset': 'mogavision.CheckedCocoDataset',
            'XMLDataset': 'mogavision.CheckedXMLDataset'},
    'pose': {'CocoDataset': 'mogavision.CheckedCocoPoseDataset'},
    'seg': {'BaseSegDataset': 'mogavision.CheckedSegDataset'},
    'cls': {'CustomDataset': 'mogavision.CheckedCustomDataset'},
}


def use_checked_data_loading(cfg: Config, task: str):
    """Load data with checks: images that are missing, empty, truncated or
    undecodable raise an error naming the file and the cause (see
    ``mogavision/datasets/loading.py``), COCO annotations with boxes outside
    the image or degenerate polygons are skipped with a counted warning (mmdet
    and mmpose drop or clip them silently), and
    :class:`~mogavision.engine.hooks.DatasetChecksHook` checks the built
    datasets before the first iteration."""
    checked_types = {alias: checked
                     for name, checked in CHECKED_DATASETS[task].items()
                     for alias in (name, f'{cfg.default_scope}.{name}')}
    pipelines = [cfg.get('tta_pipeline') or []]
    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader')
        if not loader:
            continue
        for dataset in leaf_datasets(loader['dataset']):
            if dataset.get('type') in checked_types:
                dataset['type'] = checked_types[dataset['type']]
            pipelines.append(dataset.get('pipeline') or [])
    for pipeline in pipelines:
        for transform in pipeline:
            if isinstance(transform, dict) and \
                    transform.get('type') in UNCHECKED_LOADERS:
                transform['type'] = CHECKED_LOADER
    add_custom_hook(cfg, dict(type='mogavision.DatasetChecksHook'))


def check_data_paths(cfg: Config, *splits: str):
    """Fail early, naming the missing path and how to fix it, when a
    dataloader's data are absent (instead of a deep error from a loader)."""
    missing = []
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        if not loader:
            continue
        for dataset in leaf_datasets(loader['dataset']):
            for key, path in _paths(dataset):
                if not osp.exists(path):
                    missing.append(f'{split}_dataloader.dataset.{key}: {path}')
        evaluators = cfg.get(f'{split}_evaluator') or []
        for i, evaluator in enumerate(
                [evaluators] if isinstance(evaluators, dict) else evaluators):
            path = evaluator.get('ann_file')
            if path and not osp.exists(path):
                where = f'{split}_evaluator' + (
                    '' if isinstance(evaluators, dict) else f'.{i}')
                missing.append(f'{where}.ann_file: {path}')
    if missing:
        raise FileNotFoundError(
            'Dataset files not found:\n  ' + '\n  '.join(missing) +
            '\nPut the dataset there (configs/<task>/README.md shows the '
            'layout; docs/own_data.md your own data), '
            'or point the config at it, e.g. --cfg-options '
            'train_dataloader.dataset.data_root=/path/to/data/')


def enable_visualization(cfg: Config, task: str, show: bool, show_dir: str,
                         wait_time: float):
    """Switch on the task's own visualization hook for ``--show``/``--show-dir``."""
    hook = cfg.default_hooks.get('visualization')
    if hook is None:
        raise KeyError('The config has no default_hooks.visualization; '
                       '--show/--show-dir need the toolbox visualization hook.')
    if task in ('det', 'seg'):
        hook['draw'] = True
    else:
        hook['enable'] = True
    hook['show'] = show
    hook['wait_time'] = wait_time
    if show_dir:
        if task == 'det':
            hook['test_out_dir'] = show_dir
        elif task == 'seg':
            cfg.visualizer['save_dir'] = show_dir
        else:
            hook['out_dir'] = show_dir


def dump_metric(task: str, out_file: str):
    """The metric that writes raw predictions to ``out_file`` (``--out``)."""
    if not out_file.endswith(('.pkl', '.pickle')):
        raise ValueError(f'--out must end with .pkl or .pickle, got {out_file}')
    if task == 'det':
        from mmdet.evaluation import DumpDetResults
        return DumpDetResults(out_file_path=out_file)
    from mmengine.evaluator import DumpResults
    return DumpResults(out_file_path=out_file)


def use_tta(cfg: Config):
    """Swap in ``tta_model``/``tta_pipeline`` (``--tta``)."""
    if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
        raise KeyError('--tta needs tta_model and tta_pipeline in the config; '
                       'this config defines none.')
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    cfg.tta_model.module = cfg.model
    cfg.model = cfg.tta_model
