# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""INT8 post-training quantization (NNCF) of a whole-model ONNX export.

Reads ``FP32_DIR/end2end.onnx`` + ``end2end.json``
(``tools/deployment/export_onnx.py``), calibrates on the config's own data
through its test pipeline (or on a folder of images), and writes the INT8
QDQ model ``OUT_DIR/end2end.onnx`` + ``end2end.json``, which
``tools/test.py CONFIG OUT_DIR/end2end.onnx --backend openvino|onnxruntime``
and ``tools/demo/image_demo.py`` run unchanged. When the config's test
split is available, fp32 and INT8 are both evaluated on it and the metrics
printed and stored in the JSON; ``--max-drop`` refuses (exit 1, nothing
written) an INT8 model that loses more than that many points.

Examples:
    python tools/deployment/quantize.py configs/cls/moganet_t_224.py \
        onnx/cls/end2end.onnx --out-dir onnx/cls_int8 --max-drop 1
    python tools/deployment/quantize.py configs/seg/upernet_moganet_t.py \
        onnx/upernet/end2end.onnx --out-dir onnx/upernet_int8 \
        --calib-images my_photos/ --num-calib 100
"""
import argparse
import sys

import mogavision  # noqa: F401
from mmengine.config import Config, DictAction

from mogavision.deploy.calibration import CALIB_SPLITS, DEFAULT_NUM_CALIB
from mogavision.deploy.int8_recipes import PRESETS, describe_float
from mogavision.deploy.quantize import DropTooLarge, quantize_export
from mogavision.engine.runtime import apply_common_options


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Quantize an exported model to INT8 with NNCF')
    parser.add_argument('config', help='the config the model was exported '
                        'from')
    parser.add_argument('onnx', help='FP32_DIR/end2end.onnx of '
                        'tools/deployment/export_onnx.py')
    parser.add_argument('--out-dir', required=True,
                        help='where the INT8 end2end.onnx and end2end.json '
                        'go (not the fp32 directory)')
    parser.add_argument('--calib-split', choices=CALIB_SPLITS,
                        default='train', help='split of the config\'s '
                        'dataset to calibrate on, through the test pipeline '
                        '(default train: the test split stays unseen)')
    parser.add_argument('--calib-images', metavar='DIR',
                        help='calibrate on the images of this folder '
                        '(no annotations) instead of a split')
    parser.add_argument('--num-calib', type=int,
                        help=f'calibration images (default '
                        f'{DEFAULT_NUM_CALIB}, fewer when the source has '
                        'fewer)')
    parser.add_argument('--preset', choices=PRESETS,
                        help='NNCF preset (default performance: symmetric '
                        'activations; mixed: asymmetric)')
    parser.add_argument('--float-modules', nargs='+', default=(),
                        metavar='REGEX', help='also keep these toolbox '
                        'modules in float (full module paths, regular '
                        'expressions, e.g. model.roi_head.bbox_head.fc_reg)')
    parser.add_argument('--max-drop', type=float, metavar='POINTS',
                        help='refuse (exit 1, write nothing) when the key '
                        'metric drops by more than this many points '
                        '(x100 for COCO AP); needs the test split')
    parser.add_argument('--skip-eval', action='store_true',
                        help='do not evaluate fp32 and INT8 on the test '
                        'split')
    parser.add_argument('--eval-backend', default='openvino',
                        choices=['openvino', 'onnxruntime'],
                        help='runtime of the evaluation (default openvino)')
    parser.add_argument('--work-dir', help='where the evaluation logs go '
                        '(default: work_dirs/<config name>)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    apply_common_options(cfg, args)
    try:
        result = quantize_export(
            cfg, args.onnx, args.out_dir, calib_split=args.calib_split,
            calib_images=args.calib_images, num_calib=args.num_calib,
            preset=args.preset, float_modules=tuple(args.float_modules),
            evaluate_split=not args.skip_eval,
            max_drop=args.max_drop, eval_backend=args.eval_backend)
    except DropTooLarge as error:
        print(error, file=sys.stderr)
        raise SystemExit(1)
    quant = result['meta']['quantization']
    kept = quant['kept_in_float']
    print(f'{result["onnx"]}: INT8 ({quant["preset"]} preset, '
          f'{quant["quantizers"]} quantizers, calibrated on '
          f'{quant["calibration"]["count"]} images of '
          f'{quant["calibration"]["source"]})')
    print(f'{result["meta_file"]}: the export\'s description + '
          f'quantization (kept in float: {describe_float(kept)})')


if __name__ == '__main__':
    main()
