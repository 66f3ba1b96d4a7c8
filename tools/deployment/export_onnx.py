# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Export a config's whole model (or only its MogaNet backbone) to ONNX,
checked with ONNX Runtime against PyTorch.

Writes ``OUT_DIR/end2end.onnx`` and ``OUT_DIR/end2end.json`` (preprocessing,
postprocessing parameters, class names; see ``mogavision/deploy``), which
``tools/test.py CONFIG OUT_DIR/end2end.onnx --backend onnxruntime|openvino``
and ``tools/demo/image_demo.py IMAGE CONFIG OUT_DIR/end2end.onnx`` run.

Examples:
    python tools/deployment/export_onnx.py configs/cls/moganet_t_224.py \
        CKPT --out-dir onnx/
    python tools/deployment/export_onnx.py configs/seg/upernet_moganet_t.py \
        CKPT --out-dir onnx/upernet --deploy  # dynamic H, W: keep-ratio
    python tools/deployment/export_onnx.py \
        configs/pose/topdown_heatmap_moganet_t_256x192.py CKPT \
        --out-dir onnx/pose --export-options decode=True
    python tools/deployment/export_onnx.py CONFIG CKPT --part backbone \
        --out-dir onnx/
"""
import argparse
import os.path as osp

import mogavision  # noqa: F401
import torch
from mmengine.config import Config, DictAction

from mogavision.config import load_model
from mogavision.deploy.base import DEFAULT_TOLERANCE, family_for
from mogavision.deploy.export import (DEFAULT_OPSET, dynamic_by_default,
                                      export_backbone, export_model)
from mogavision.engine.runtime import apply_common_options


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Export a MogaNet model to ONNX (checked with ONNX '
        'Runtime against PyTorch)')
    parser.add_argument('config')
    parser.add_argument('checkpoint', nargs='?',
                        help='weights (random weights without)')
    parser.add_argument('--out-dir', default='work_dirs/onnx',
                        help='where end2end.onnx and end2end.json go')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='input size (default: the test size of the '
                        'config: crop / codec input size; det: the resize '
                        'scale padded; seg: the crop size)')
    parser.add_argument('--dynamic', action='store_true',
                        help='dynamic height and width (batch is always '
                        'dynamic); the default for whole models whose test '
                        'pipeline keeps the aspect ratio (det, seg)')
    parser.add_argument('--static', action='store_true',
                        help='whole model: a fixed input size (--shape, or '
                        'the config\'s default) even where the test '
                        'pipeline keeps the aspect ratio')
    parser.add_argument('--batch-size', type=int, default=1,
                        help='batch of the example input traced and checked')
    parser.add_argument('--deploy', action='store_true',
                        help='fold MogaNet BNs and layer scales first (same '
                        'outputs, a smaller and faster graph)')
    parser.add_argument('--part', choices=['model', 'backbone'],
                        default='model', help='the whole model (default) or '
                        'the backbone alone (OUT_DIR/backbone.onnx, '
                        'outputs stage<i>)')
    parser.add_argument('--export-options', nargs='+', action=DictAction,
                        default={}, help='options of the export family, '
                        'e.g. logits=True (segmentation), decode=True '
                        '(pose); an unknown key lists the known ones')
    parser.add_argument('--opset', type=int, default=DEFAULT_OPSET)
    parser.add_argument('--legacy-exporter', action='store_true',
                        help="torch's TorchScript exporter instead of the "
                        'dynamo one (the fallback when dynamo fails)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    apply_common_options(cfg, args)  # the checks every tool runs
    if args.part == 'model':
        # unsupported: fail before loading anything
        family = family_for(cfg, **args.export_options)
        args.dynamic = dynamic_by_default(family, args.dynamic, args.static)
    elif args.static:
        raise SystemExit('--static: a backbone export is static unless '
                         '--dynamic; drop --static.')
    if args.checkpoint and not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'Checkpoint not found: {args.checkpoint}')
    torch.manual_seed(0)  # the same random weights without a checkpoint
    model = load_model(cfg, args.checkpoint)
    if args.deploy:
        model.backbone.switch_to_deploy()
    if args.part == 'backbone':
        result = export_backbone(model.backbone, args.out_dir,
                                 shape=args.shape or (224, 224),
                                 dynamic=args.dynamic,
                                 batch_size=args.batch_size, opset=args.opset,
                                 dynamo=not args.legacy_exporter)
    else:
        result = export_model(
            cfg, model, args.out_dir, shape=args.shape, dynamic=args.dynamic,
            batch_size=args.batch_size, opset=args.opset,
            options=args.export_options, config=args.config,
            checkpoint=args.checkpoint, deploy=args.deploy,
            dynamo=not args.legacy_exporter)
    meta = result['meta']
    shape = meta['input']['shape']
    print(f'{result["onnx"]}: {meta.get("family", "backbone")} export, '
          f'input {"x".join(map(str, shape))}'
          f'{" (dynamic H, W)" if args.dynamic else ""}, '
          f'{meta["exporter"]} exporter, opset {meta["opset"]}')
    for name, diff in result['diffs'].items():
        limit = result['tolerances'].get(name, DEFAULT_TOLERANCE)
        print(f'  {name}: max |onnxruntime - torch| = {diff:.3e} '
              f'(limit {limit:.0e})')
    if 'meta_file' in result:
        print(f'{result["meta_file"]}: preprocessing, postprocessing, classes')


if __name__ == '__main__':
    main()
