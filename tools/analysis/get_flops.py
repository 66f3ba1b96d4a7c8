# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Params and FLOPs of a config, at the paper's measuring size by default
(det 1280x800, seg 2048x512, pose its input size, cls its crop size).

Example:
    python tools/analysis/get_flops.py configs/det/mask_rcnn_moganet_s.py --compare-paper
    python tools/analysis/get_flops.py configs/cls/moganet_t_224.py --shape 256 256
"""
import argparse
import os.path as osp

import mogavision  # noqa: F401
from mmengine.config import Config, DictAction

from mogavision.analysis import complexity
from mogavision.engine.runtime import apply_common_options
from mogavision.model_zoo import paper_row


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Params and FLOPs of a config')
    parser.add_argument('config')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='input size (default: the paper\'s measuring size)')
    parser.add_argument('--compare-paper', action='store_true',
                        help='print the paper\'s figures for this row too')
    parser.add_argument('--table', action='store_true',
                        help='print the per-module table')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    # --cfg-options and the checks every tool runs (channels, heads/data)
    cfg = apply_common_options(Config.fromfile(args.config), args)
    result = complexity(cfg, args.shape)
    if args.table:
        print(result['table'])
    name = osp.splitext(osp.basename(args.config))[0]
    h, w = result['shape']
    print(f'config: {name}\ninput shape: {h}x{w}\n'
          f'params: {result["params"] / 1e6:.2f} M ({result["params"]})\n'
          f'flops: {result["flops"] / 1e9:.2f} G ({result["flops"]} '
          'multiply-adds)')
    if args.compare_paper:
        row = paper_row(name)
        if row is None:
            print(f'paper: no row for {name}')
        else:
            print(f'paper params: {row["params"]} M '
                  f'(ours {100 * (result["params"] / 1e6 / row["params"] - 1):+.1f}%)')
            if row.get('flops') is not None:
                print(f'paper flops: {row["flops"]} G '
                      f'(ours {100 * (result["flops"] / 1e9 / row["flops"] - 1):+.1f}%)')


if __name__ == '__main__':
    main()
