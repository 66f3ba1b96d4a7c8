# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Effective receptive field of a config's backbone (RepLKNet's method):
heatmap, the raw map (.npy) and the area ratios holding 20/30/50/99 % of
the contribution (printed and in a CSV). Any task: cls, det, seg, pose.

Example:
    python tools/analysis/erf.py configs/cls/moganet_t_224.py moganet_t.pth \
        --images data/imagenet/val --num-images 50 --stage 4 \
        --out-file work_dirs/erf/moganet_t.png
"""
import argparse
import os.path as osp

import mogavision  # noqa: F401  (environment check, safe checkpoint loading)
import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import DictAction

from mogavision.analysis import (ERF_THRESHOLDS, ImageInputs, area_ratios,
                                 erf_map, find_layer, layer_features,
                                 list_images, load_analysis_model,
                                 log_normalise, plot_erf, stage_features)
from mogavision.fileio import atomic_output, atomic_write


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Effective receptive field of a backbone')
    parser.add_argument('config', help='config (path or pkg::name)')
    parser.add_argument('checkpoint', nargs='?', help='its weights')
    parser.add_argument('--images', required=True,
                        help='folder of images (searched recursively)')
    parser.add_argument('--num-images', type=int, default=50,
                        help='use the first N images (default 50)')
    where = parser.add_mutually_exclusive_group()
    where.add_argument('--stage', type=int, help='backbone stage (1-based); '
                       'default: the backbone\'s last output')
    where.add_argument('--layer', help='a module of the backbone instead, '
                       'e.g. backbone.blocks3')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='resize the inputs to H x W (default: the test '
                        'pipeline\'s output size, of the first image when '
                        'sizes differ)')
    parser.add_argument('--gradient', choices=['abs', 'positive'],
                        default='abs', help='|grad| (default) or relu(grad) '
                        'as RepLKNet\'s script')
    parser.add_argument('--out-file', default='work_dirs/erf/erf.png',
                        help='heatmap; the CSV and .npy go beside it')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    parser.add_argument('--device', default='cuda:0'
                        if torch.cuda.is_available() else 'cpu')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    images = list_images(args.images, args.num_images)
    cfg, model = load_analysis_model(args.config, args.checkpoint,
                                     args.cfg_options, args.device)
    backbone = getattr(model, 'backbone', None)
    if not isinstance(backbone, torch.nn.Module):
        raise ValueError(f'{args.config} builds a {type(model).__name__} '
                         'without a backbone; the ERF is measured on '
                         'model.backbone.')
    if args.layer:
        name = args.layer if args.layer.startswith('backbone.') \
            else 'backbone.' + args.layer
        layer, name = find_layer(model, name)
        features, where = layer_features(backbone, layer, name), name
    else:
        features = stage_features(backbone, args.stage)
        where = f'stage {args.stage}' if args.stage else 'last output'
    inputs_of = ImageInputs(cfg, model)
    shape = tuple(args.shape) if args.shape else None

    def inputs():
        nonlocal shape
        for key in images:
            x = inputs_of(osp.join(args.images, key))[0]
            shape = shape or tuple(x.shape[-2:])
            if tuple(x.shape[-2:]) != shape:
                x = F.interpolate(x, size=shape, mode='bilinear',
                                  align_corners=False)
            yield x

    contribution, count = erf_map(features, inputs(), args.gradient)
    data = log_normalise(contribution)
    rows = area_ratios(data, ERF_THRESHOLDS)
    stem = osp.splitext(args.out_file)[0]
    with atomic_output(stem + '.npy') as partial:
        with open(partial, 'wb') as f:
            np.save(f, contribution)
    atomic_write('threshold,side,area_ratio\n' + ''.join(
        f'{t},{side},{ratio:.6f}\n' for t, side, ratio in rows),
        stem + '.csv')
    name = osp.splitext(osp.basename(args.config.split('::')[-1]))[0]
    plot_erf(data, args.out_file,
             f'ERF of {name}, {where} ({count} images, '
             f'{shape[0]}x{shape[1]})', rows)
    print(f'ERF of {where} over {count} images at {shape[0]}x{shape[1]}:')
    print('threshold  side  area ratio')
    for t, side, ratio in rows:
        print(f'{100 * t:8.0f}%  {side:4d}  {ratio:.6f}')
    print(f'wrote {args.out_file}, {stem}.csv and {stem}.npy')
    return dict(map=contribution, ratios=rows, shape=shape, count=count)


if __name__ == '__main__':
    main()
