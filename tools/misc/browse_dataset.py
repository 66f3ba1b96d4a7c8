# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Draw a config's dataset as the model sees it: every sample after the
training (or test) pipeline, with its boxes, masks, label map, keypoints or
class, by the toolbox's own visualizer. The dataset checks of
tools/train.py run first.

Example:
    python tools/misc/browse_dataset.py configs/det/own_data/retinanet_moganet_xt_voc.py
    python tools/misc/browse_dataset.py CONFIG --phase val --num 5 --output-dir vis
"""
import argparse
import os.path as osp

import mogavision  # noqa: F401  (environment check)
from mmengine.config import Config, DictAction

from mogavision.datasets.browse import browse_dataset
from mogavision.engine.runtime import apply_common_options


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Browse a dataset')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--phase', default='train',
                        choices=['train', 'val', 'test'],
                        help='which dataloader\'s dataset and pipeline')
    parser.add_argument('--output-dir', help='where the pictures go (default: '
                        'work_dirs/<config name>/browse_<phase>)')
    parser.add_argument('--num', type=int, default=20,
                        help='how many samples to draw')
    parser.add_argument('--show', action='store_true',
                        help='also show each picture in a window')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = apply_common_options(Config.fromfile(args.config), args)
    output_dir = args.output_dir or osp.join(cfg.work_dir,
                                             f'browse_{args.phase}')
    written = browse_dataset(cfg, args.phase, output_dir, args.num, args.show)
    print(f'\n{len(written)} pictures of the {args.phase} pipeline in '
          f'{output_dir}')


if __name__ == '__main__':
    main()
