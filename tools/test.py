# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Evaluate a checkpoint of any mogavision config on its benchmark's test
split with the toolbox's own metrics.

Example:
    python tools/test.py configs/det/mask_rcnn_moganet_s.py CKPT
    python tools/test.py CONFIG CKPT --show-dir vis --out preds.pkl
    python tools/test.py CONFIG onnx/end2end.onnx --backend openvino --out preds.pkl
    python tools/test.py configs/det/mask_rcnn_moganet_s.py \
        mogavision://mask_rcnn_moganet_s
"""
import argparse
import os

import mogavision  # noqa: F401  (environment check, safe checkpoint loading)
from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from mogavision.engine.runtime import (add_custom_hook, apply_common_options,
                                       check_checkpoint_source,
                                       check_data_paths, dump_metric,
                                       enable_visualization, task_of,
                                       use_checked_checkpoints, use_tta)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test a MogaNet model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument(
        'checkpoint', help='checkpoint file (ours, or an OpenMMLab 1.x one), '
        'URL, or mogavision://<config name> for the released weights')
    parser.add_argument('--allow-class-mismatch', action='store_true',
                        help='evaluate a checkpoint trained on other class '
                        'names (checked against the dataset by default)')
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
    # exported models (mogavision.deploy): see build_exported_runner
    parser.add_argument('--backend', default='pytorch',
                        choices=['pytorch', 'onnxruntime', 'openvino'],
                        help='onnxruntime/openvino: CHECKPOINT is an '
                        'exported DIR/end2end.onnx (tools/deployment/'
                        'export_onnx.py) run on that runtime')
    parser.add_argument('--precision', default='fp32',
                        choices=['fp32', 'fp16', 'bf16'],
                        help='runtime precision of --backend (fp32 default; '
                        'bf16/fp16 only where the runtime and CPU have it)')
    parser.add_argument('--backend-device', default='cpu',
                        help='device of --backend (cpu; onnxruntime: '
                        'cuda[:i] with onnxruntime-gpu)')
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
    cfg.load_from = check_checkpoint_source(args.checkpoint)
    use_checked_checkpoints(cfg, training=False,
                            allow_class_mismatch=args.allow_class_mismatch)
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


def build_exported_runner(args):
    """``--backend onnxruntime|openvino``: the config's test dataset,
    evaluator and visualization run on an exported model (CHECKPOINT is
    ``DIR/end2end.onnx``, checked against the config), as for a checkpoint."""
    from mogavision.deploy.runner import build_deployed_runner
    pytorch_only = [f'--{name.replace("_", "-")}' for name in (
        'deploy', 'channels_last', 'compile', 'tta', 'allow_class_mismatch')
        if getattr(args, name, False)]
    if pytorch_only:
        raise SystemExit(
            f'{", ".join(pytorch_only)}: PyTorch checkpoints only. An '
            'exported model runs as exported (fold it at export with '
            'tools/deployment/export_onnx.py --deploy).')
    if args.launcher != 'none':
        raise SystemExit(f'--backend {args.backend} runs in one process; '
                         'drop --launcher.')
    cfg = Config.fromfile(args.config)
    apply_common_options(cfg, args)
    if args.show or args.show_dir:
        enable_visualization(cfg, task_of(cfg), args.show, args.show_dir,
                             args.wait_time)
    check_data_paths(cfg, 'test')
    return cfg, build_deployed_runner(
        cfg, args.checkpoint, backend=args.backend,
        device=args.backend_device, precision=args.precision)


def main(argv=None):
    args = parse_args(argv)
    if args.backend != 'pytorch':
        cfg, runner = build_exported_runner(args)
    else:
        cfg = build_test_config(args)
        runner = RUNNERS.build(cfg) if 'runner_type' in cfg \
            else Runner.from_cfg(cfg)
    if args.out:
        runner.test_evaluator.metrics.append(dump_metric(task_of(cfg), args.out))
    runner.test()


if __name__ == '__main__':
    main()
