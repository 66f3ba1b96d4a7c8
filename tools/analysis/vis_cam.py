# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Class activation map of a classifier on one image, with the maintained
pytorch-grad-cam package, drawn over the image as the test pipeline gives
it.

Example:
    python tools/analysis/vis_cam.py demo.jpg configs/cls/moganet_t_224.py \
        moganet_t.pth --method gradcam --target-layers backbone.norm4 \
        --out-file cam.png
"""
import argparse
import os.path as osp

import mogavision  # noqa: F401  (environment check, safe checkpoint loading)
import cv2
import torch
from mmengine.config import DictAction

from mogavision.analysis import (CAM_METHODS, FeatureMaps, ImageInputs,
                                 TensorForward, check_target_layers,
                                 compute_cam, default_target_layer,
                                 find_layer, load_analysis_model, overlay_cam)
from mogavision.fileio import atomic_write

TOOL = 'vis_cam.py'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Class activation map')
    parser.add_argument('image', help='image file')
    parser.add_argument('config', help='classification config (path or '
                        'pkg::name)')
    parser.add_argument('checkpoint', nargs='?', help='its weights')
    parser.add_argument('--method', default='gradcam',
                        help=f'one of {", ".join(CAM_METHODS)} '
                        '(default gradcam)')
    parser.add_argument('--target-layers', nargs='+', metavar='NAME',
                        help='layers whose activations make the map, e.g. '
                        'backbone.norm4 or backbone.blocks4 (its last '
                        'block); default: the last stage\'s output')
    parser.add_argument('--target-class', '--target-category', type=int,
                        help='class to explain (default: the top-1 class)')
    parser.add_argument('--aug-smooth', action='store_true',
                        help='grad-cam test-time augmentation smoothing')
    parser.add_argument('--eigen-smooth', action='store_true',
                        help='grad-cam principal-component smoothing')
    parser.add_argument('--out-file', help='output picture (default '
                        'work_dirs/vis_cam/<image>_<method>.png)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    parser.add_argument('--device', default='cuda:0'
                        if torch.cuda.is_available() else 'cpu')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.method.lower() not in CAM_METHODS:
        raise ValueError(f'Unknown --method {args.method!r}; choose one of '
                         f'{", ".join(CAM_METHODS)}.')
    if not osp.isfile(args.image):
        raise FileNotFoundError(f'Image not found: {args.image}')
    cfg, model = load_analysis_model(args.config, args.checkpoint,
                                     args.cfg_options, args.device,
                                     classifier_for=TOOL)
    inputs, _, image = ImageInputs(cfg, model)(args.image)
    classifier = TensorForward(model, 'cls', None)
    names = args.target_layers or [
        default_target_layer(classifier, model.backbone, inputs)]
    layers = [find_layer(model, name) for name in names]
    check_target_layers(classifier, inputs,
                        [(name, layer) for layer, name in layers])
    reshape = FeatureMaps(tuple(inputs.shape[-2:]),
                          getattr(model.backbone, 'num_extra_tokens', None))
    cam, label, score = compute_cam(
        classifier, inputs, [layer for layer, _ in layers], args.method,
        args.target_class, reshape, args.aug_smooth, args.eigen_smooth)
    picture = overlay_cam(image, cam)
    out_file = args.out_file or osp.join(
        'work_dirs', 'vis_cam',
        f'{osp.splitext(osp.basename(args.image))[0]}_'
        f'{args.method.lower().replace("+", "p")}.png')
    ext = osp.splitext(out_file)[1] or '.png'
    ok, encoded = cv2.imencode(ext, cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f'Cannot write a {ext} picture: {out_file}')
    atomic_write(encoded.tobytes(), out_file)
    print(f'{args.method} of class {label} (p={score:.4f}) at '
          f'{", ".join(name for _, name in layers)}: wrote {out_file} '
          f'({picture.shape[1]}x{picture.shape[0]})')
    return dict(cam=cam, label=label, score=score, out_file=out_file,
                layers=[name for _, name in layers])


if __name__ == '__main__':
    main()
