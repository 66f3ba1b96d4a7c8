# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Multi-order interaction strength J(m) of image classifiers (MogaNet's
Sec. 3, after Deng et al., ICLR 2022): a CSV and a plot with one curve per
model.

Example:
    python tools/analysis/interaction_strength.py \
        configs/cls/moganet_t_224.py moganet_t.pth \
        --images data/imagenet/val --ann-file data/imagenet/meta/val.txt \
        --num-images 50 --compare mmpretrain::resnet/resnet50_8xb32_in1k.py \
        --compare-checkpoints resnet50.pth --out-dir work_dirs/interaction

Per-image results go to OUT_DIR/per_image/<model>/ as they finish; run the
same command again to resume an interrupted run.
"""
import argparse
import os.path as osp
import sys

import mogavision  # noqa: F401  (environment check, safe checkpoint loading)
import torch
from mmengine.config import DictAction

from mogavision.analysis import (ImageInputs, InteractionSettings,
                                 TensorForward, curves_csv,
                                 interaction_curve, list_images,
                                 load_analysis_model, masked_log_odds,
                                 model_fingerprint, plot_interaction_curves,
                                 read_labels, run_images)
from mogavision.fileio import atomic_write
from mogavision.engine.runtime import check_checkpoint_source

TOOL = 'interaction_strength.py'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Multi-order interaction strength of classifiers')
    parser.add_argument('config', help='classification config (path or '
                        'pkg::name, e.g. mmpretrain::resnet/'
                        'resnet50_8xb32_in1k.py)')
    parser.add_argument('checkpoint', nargs='?', help='its weights')
    parser.add_argument('--images', required=True,
                        help='folder of images (searched recursively)')
    parser.add_argument('--ann-file', help='"<image> <label>" lines '
                        '(relative to --images) giving the ground-truth class '
                        'y; default: each model\'s top-1 prediction')
    parser.add_argument('--target-class', type=int,
                        help='explain this class y for every image')
    parser.add_argument('--num-images', type=int,
                        help='use the first N images (sorted by path)')
    parser.add_argument('--compare', nargs='+', default=[], metavar='CONFIG',
                        help='more classifier configs on the same plot')
    parser.add_argument('--compare-checkpoints', nargs='+', default=[],
                        metavar='CKPT', help='one per --compare config '
                        '("none": random weights)')
    parser.add_argument('--names', nargs='+', help='legend names, CONFIG '
                        'first (default: the config file names)')
    parser.add_argument('--grid', type=int, default=14,
                        help='players: grid x grid patches (default 14)')
    parser.add_argument('--pairs', type=int, default=50,
                        help='pairs (i, j) per image (default 50)')
    parser.add_argument('--contexts', type=int, default=50,
                        help='contexts S per pair and order (default 50)')
    parser.add_argument('--batch-size', type=int, default=128,
                        help='masked images per forward, a multiple of 4')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out-dir', default='work_dirs/interaction',
                        help='interaction.csv, interaction.png, per_image/')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of CONFIG, key=value')
    parser.add_argument('--device', default='cuda:0'
                        if torch.cuda.is_available() else 'cpu')
    return parser.parse_args(argv)


def model_list(args):
    """``(name, config, checkpoint, cfg_options)`` of every model."""
    if args.compare_checkpoints and \
            len(args.compare_checkpoints) != len(args.compare):
        raise ValueError(f'--compare-checkpoints needs one checkpoint per '
                         f'--compare config ({len(args.compare)}), got '
                         f'{len(args.compare_checkpoints)}; use "none" for '
                         'random weights.')
    checkpoints = [None if c is None or c.lower() == 'none' else c
                   for c in args.compare_checkpoints or
                   [None] * len(args.compare)]
    entries = [(args.config, args.checkpoint, args.cfg_options)] + \
        [(c, k, None) for c, k in zip(args.compare, checkpoints)]
    if args.names and len(args.names) != len(entries):
        raise ValueError(f'--names needs {len(entries)} names (CONFIG and '
                         f'each --compare), got {len(args.names)}.')
    names, models = set(), []
    for index, (config, checkpoint, options) in enumerate(entries):
        if checkpoint is not None:
            checkpoint = check_checkpoint_source(checkpoint)
        name = args.names[index] if args.names else \
            osp.splitext(osp.basename(config.split('::')[-1]))[0]
        base, suffix = name, 2
        while name in names:
            name, suffix = f'{base}-{suffix}', suffix + 1
        names.add(name)
        models.append((name, config, checkpoint, options))
    return models


def main(argv=None):
    args = parse_args(argv)
    settings = InteractionSettings(grid=args.grid, num_pairs=args.pairs,
                                   num_contexts=args.contexts, seed=args.seed)
    settings.check()
    if args.batch_size < 4 or args.batch_size % 4:
        raise ValueError(f'--batch-size must be a positive multiple of 4 '
                         f'(the four masks of a context go together), got '
                         f'{args.batch_size}.')
    if args.ann_file and args.target_class is not None:
        raise ValueError('Give --ann-file or --target-class, not both.')
    models = model_list(args)
    images = list_images(args.images, args.num_images)
    labels = read_labels(args.ann_file, images) if args.ann_file else None
    label_source = f'ann_file:{osp.abspath(args.ann_file)}' if labels else \
        f'class:{args.target_class}' if args.target_class is not None \
        else 'top-1'
    print(f'{len(images)} images, {settings.grid}x{settings.grid} players, '
          f'orders {settings.orders}, {settings.num_pairs} pairs x '
          f'{settings.num_contexts} contexts: {settings.masks_per_image} '
          f'masked forwards per image and model; y = {label_source}')

    curves = {}
    for name, config, checkpoint, options in models:
        cfg, model = load_analysis_model(config, checkpoint, options,
                                         args.device, classifier_for=TOOL)
        if checkpoint is None:
            print(f'{name}: no checkpoint, random weights', file=sys.stderr)
        inputs_of = ImageInputs(cfg, model)
        classifier = TensorForward(model, 'cls', None)

        def make_value_fn(key, inputs_of=inputs_of, classifier=classifier):
            inputs = inputs_of(osp.join(args.images, key))[0]
            if labels is not None:
                label = labels[key]
            elif args.target_class is not None:
                label = args.target_class
            else:
                with torch.inference_mode():
                    label = int(classifier(inputs).argmax(1)[0])
            return masked_log_odds(classifier, inputs, label,
                                   settings.grid), label

        identity = dict(config=config, labels=label_source,
                        **model_fingerprint(cfg, checkpoint))
        print(f'{name}: {config}' + (f' + {checkpoint}' if checkpoint else ''))
        records = run_images(images, make_value_fn,
                             osp.join(args.out_dir, 'per_image', name),
                             settings, identity, args.batch_size)
        curves[name] = interaction_curve(records, settings.num_players)
        del model, classifier, inputs_of

    csv_file = osp.join(args.out_dir, 'interaction.csv')
    png_file = osp.join(args.out_dir, 'interaction.png')
    atomic_write(curves_csv(curves), csv_file)
    plot_interaction_curves(
        curves, png_file, title=f'{len(images)} images, '
        f'{settings.grid}x{settings.grid} patches')
    width = max(len(n) for n in curves)
    print('\nJ(m), normalised by its mean over the orders:')
    print(' ' * width + '  m/n ' + ' '.join(
        f'{r:5.2f}' for r in next(iter(curves.values()))['ratios']))
    for name, curve in curves.items():
        print(f'{name:{width}}       ' + ' '.join(f'{v:5.2f}'
                                                  for v in curve['mean']))
    print(f'wrote {csv_file} and {png_file}')
    return curves


if __name__ == '__main__':
    main()
