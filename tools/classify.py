# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Classify an image with a cls config and a checkpoint; prints the top-k
classes.

Example:
    python tools/classify.py demo.jpg configs/cls/moganet_t_224.py \
        moganet_t_224.pth
"""
import argparse

import mogavision  # noqa: F401  (environment check, safe checkpoint loading)
from mmengine.config import DictAction

from mogavision.apis import classify_image, init_classifier


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Classify an image')
    parser.add_argument('image', help='image file')
    parser.add_argument('config', help='cls config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--topk', type=int, default=5,
                        help='how many classes to print')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    inferencer = init_classifier(args.config, args.checkpoint,
                                 device=args.device,
                                 cfg_options=args.cfg_options)
    results = classify_image(inferencer, args.image, topk=args.topk)
    for rank, result in enumerate(results, 1):
        print(f'{rank}. {result["class_name"]} (label {result["label"]}): '
              f'{result["score"]:.4f}')
    return results


if __name__ == '__main__':
    main()
