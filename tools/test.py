# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Evaluate a checkpoint of any mogavision config on its benchmark's test
split with the toolbox's own metrics.

Example:
    python tools/test.py configs/det/mask_rcnn_moganet_s.py CKPT
    python tools/test.py CONFIG CKPT --show-dir vis --out preds.pkl
"""
import argparse
import os

import mogavision  # noqa: F401  (environment check, safe checkpoint loading)
from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from mogavision.checkpoint import check_checkpoint_fits_model
from mogavision.engine.runtime import (add_custom_hook, apply_common_options,
                                       check_data_paths,
                                       dump_metric, enable_visualization,
                                       task_of, use_tta)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test a MogaNet model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where metrics and logs go '
                        '(default: work_dirs/<config name>)')
    parser.add_argument('--out', help='dump raw predictions to this .pkl file')
    parser.add_argument('--show', action='store_true',
                        help='show prediction results in a window')
    parser.add_argument('--show-dir', help='save drawn predictions here')
    parser.add_argument('--wait-time', type=float, default=2,
                        help='seconds each shown image stays (--show)')
    parser.add_argument('--deploy', action='store_true',
                        help='fold MogaNet BNs and layer scales for inference '
                        '(same outputs, faster)')
    parser.add_argument('--channels-last', action='store_true',
                        help='run the model in the channels_last memory format')
    parser.add_argument('--compile', action='store_true',
                        help='compile the MogaNet backbone with inductor '
                        'freezing (fastest inference; with --deploy)')
    parser.add_argument('--tta', action='store_true',
                        help='test-time augmentation (tta_model of the config)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm',
                                               'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def build_test_config(args) -> Config:
    cfg = Config.fromfile(args.config)
    task = task_of(cfg)
    apply_common_options(cfg, args)
    if not os.path.isfile(args.checkpoint):
        raise FileNotFoundError(f'Checkpoint not found: {args.checkpoint}')
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        enable_visualization(cfg, task, args.show, args.show_dir,
                             args.wait_time)
    if args.tta:
        use_tta(cfg)
    if args.deploy or args.channels_last or args.compile:
        add_custom_hook(cfg, dict(type='mogavision.MogaNetDeployHook',
                                  fuse=args.deploy,
                                  channels_last=args.channels_last,
                                  compile=args.compile))
    check_data_paths(cfg, 'test')
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = build_test_config(args)
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    check_checkpoint_fits_model(
        runner.model.module if is_model_wrapper(runner.model) else runner.model,
        args.checkpoint)
    if args.out:
        runner.test_evaluator.metrics.append(dump_metric(task_of(cfg), args.out))
    runner.test()


if __name__ == '__main__':
    main()
