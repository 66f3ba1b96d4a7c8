# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Train any mogavision config (classification, detection, segmentation or
pose; the config's ``default_scope`` decides) with the mmengine Runner.

Example:
    python tools/train.py configs/det/mask_rcnn_moganet_s.py
    bash tools/dist_train.sh configs/det/mask_rcnn_moganet_s.py 8
"""
import argparse
import os

import mogavision  # noqa: F401  (environment check, safe checkpoint loading)
from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from mogavision.checkpoint import (find_resumable_checkpoint,
                                   is_complete_checkpoint)
from mogavision.engine.runtime import (apply_common_options,
                                       check_checkpoint_source,
                                       check_data_paths, task_of,
                                       use_checked_checkpoints,
                                       use_safe_checkpointing)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a MogaNet model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='where logs and checkpoints go '
                        '(default: work_dirs/<config name>)')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by the actual total batch size '
                        'relative to auto_scale_lr.base_batch_size')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from this checkpoint, or, without a path, from the '
        'latest checkpoint in the work dir')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm',
                                               'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def build_train_config(args) -> Config:
    cfg = Config.fromfile(args.config)
    task_of(cfg)
    apply_common_options(cfg, args)
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise KeyError('--auto-scale-lr needs auto_scale_lr.base_batch_size '
                           'in the config.')
        cfg.auto_scale_lr.enable = True
    if args.resume is not None:
        set_resume(cfg, args.resume)
    use_safe_checkpointing(cfg)
    use_checked_checkpoints(cfg, training=True)
    if cfg.get('load_from') and not cfg.get('resume'):
        cfg.load_from = check_checkpoint_source(cfg.load_from)
    check_data_paths(cfg, 'train', 'val')
    return cfg


def set_resume(cfg: Config, resume: str):
    """``--resume [PATH]``: continue from PATH, or from the latest complete
    checkpoint of the work dir; with none there, start as the config says
    (its ``load_from``, if any)."""
    if resume == 'auto':
        resume = find_resumable_checkpoint(cfg.work_dir)
        if resume is None:
            print_log(f'--resume: no checkpoint in {cfg.work_dir} yet; '
                      'starting a new run.', logger='current')
            return
    elif not os.path.isfile(resume):
        raise FileNotFoundError(f'--resume checkpoint not found: {resume}')
    elif not is_complete_checkpoint(resume):
        raise ValueError(
            f'--resume checkpoint {resume} is truncated or not a PyTorch zip '
            'checkpoint (was its writing interrupted?). Pass an earlier '
            'checkpoint, or --resume without a path to pick the latest '
            'complete one.')
    cfg.resume, cfg.load_from = True, resume


def main(argv=None):
    cfg = build_train_config(parse_args(argv))
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    runner.train()


if __name__ == '__main__':
    main()
