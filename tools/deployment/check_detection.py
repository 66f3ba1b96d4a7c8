# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Check an exported detector against PyTorch on real images: every
detection paired (same label, closest box) and its box, score and mask
compared, per image and runtime.

Exports first (``--out-dir``, dynamic size, at the config's test size)
unless ``--onnx`` names an existing export. Exits 1 when a pair differs by
more than the limits or a detection has no partner other than a near-tie
(score within ``--score-tol`` of ``score_thr`` or of the lowest score of a
full ``max_per_img`` list).

Example:
    python tools/deployment/check_detection.py \
        configs/det/mask_rcnn_moganet_t.py CKPT demo/*.png \
        --out-dir work_dirs/onnx/mask_rcnn_t
"""
import argparse
import os.path as osp
import sys

import mogavision  # noqa: F401
from mmengine.config import Config, DictAction

from mogavision.config import load_model
from mogavision.deploy.base import family_for
from mogavision.deploy.detection import check_on_images
from mogavision.deploy.export import export_model
from mogavision.engine.runtime import apply_common_options


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Compare an exported detector with PyTorch on images')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('images', nargs='+')
    parser.add_argument('--onnx', help='an existing end2end.onnx of this '
                        'config and checkpoint (default: export first)')
    parser.add_argument('--out-dir', default='work_dirs/onnx_check',
                        help='where the export goes without --onnx')
    parser.add_argument('--backends', nargs='+',
                        default=['onnxruntime', 'openvino'],
                        choices=['onnxruntime', 'openvino'])
    parser.add_argument('--threads', type=int, help='runtime threads')
    parser.add_argument('--box-tol', type=float, default=0.5,
                        help='max |box difference| in pixels')
    parser.add_argument('--score-tol', type=float, default=1e-3)
    parser.add_argument('--mask-iou', type=float, default=0.99,
                        help='min mask IoU of a pair')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    apply_common_options(cfg, args)  # the checks every tool runs
    family = family_for(cfg)
    if family.task != 'det':
        raise ValueError(f'{args.config} is a {family.name!r} config; this '
                         'tool checks detectors.')
    for path in [args.checkpoint, *args.images] + (
            [args.onnx] if args.onnx else []):
        if not osp.isfile(path):
            raise FileNotFoundError(f'Not found: {path}')
    model = load_model(cfg, args.checkpoint)
    model.cfg = cfg  # as init_detector sets it
    onnx_file = args.onnx
    if onnx_file is None:
        result = export_model(cfg, model, args.out_dir, dynamic=True,
                              config=args.config, checkpoint=args.checkpoint)
        onnx_file = result['onnx']
        print(f'exported {onnx_file}')
    options = dict(threads=args.threads) if args.threads else {}
    rows = check_on_images(model, onnx_file, args.images, args.backends,
                           **options)
    header = (f'{"image":<22} {"backend":<12} {"dets":>9} {"pairs":>5} '
              f'{"ties":>4} {"unpaired":>8} {"max|dbox|":>10} '
              f'{"max|dscore|":>11} {"min mask IoU":>12}')
    print(header)
    failed = False
    for row in rows:
        ok = (row['unmatched'] == 0 and row['box'] <= args.box_tol
              and row['score'] <= args.score_tol
              and row['mask_iou'] >= args.mask_iou)
        failed |= not ok
        print(f'{osp.basename(row["image"]):<22} {row["backend"]:<12} '
              f'{row["expected"]:>4}/{row["actual"]:<4} {row["matched"]:>5} '
              f'{row["ties"]:>4} {row["unmatched"]:>8} {row["box"]:>10.2e} '
              f'{row["score"]:>11.2e} {row["mask_iou"]:>7.4f} '
              f'({row["mask_pixels"]} px){"" if ok else "  FAIL"}')
    print('dets: PyTorch/runtime counts; pairs: same label, box within '
          f'{args.box_tol} px and score within {args.score_tol}; ties: '
          'unpaired near-ties at score_thr or at the max_per_img cut; px: '
          'most pixels by which the masks of a pair differ')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
