# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Convert an OpenMMLab 1.x MogaNet checkpoint (the release's mmdet 2.x,
mmseg 0.x and mmpose 0.x files) into a clean 2.x checkpoint: state-dict keys
as the 2.0 toolboxes name them, ``meta.dataset_meta`` for the class names,
no optimizer state; written atomically.

``tools/test.py``, ``load_from`` and ``mogavision://`` names read 1.x files
directly; convert one only to hand it to code that expects a 2.x file.

Example:
    python tools/model_converters/moganet_1x_to_2x.py \
        mask_rcnn_moganet_small_fpn_1x_coco.pth mask_rcnn_moganet_s.pth \
        --config configs/det/mask_rcnn_moganet_s.py
"""
import argparse

import mogavision  # noqa: F401  (safe checkpoint loading)
import torch

from mogavision.checkpoint import (legacy_origin, load_checkpoint_file,
                                   upgrade_legacy_checkpoint)
from mogavision.fileio import atomic_output


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert an OpenMMLab 1.x MogaNet checkpoint to 2.x')
    parser.add_argument('src', help='1.x checkpoint (.pth)')
    parser.add_argument('dst', help='output 2.x checkpoint (.pth)')
    parser.add_argument(
        '--config', help='also check the result against this config\'s '
        'model and dataset classes (key report, as tools/test.py does)')
    return parser.parse_args(argv)


def convert(src: str, dst: str, config: str = None) -> dict:
    """Convert ``src`` into ``dst`` and return the converted checkpoint."""
    checkpoint = load_checkpoint_file(src)
    if legacy_origin(checkpoint) is None:
        raise ValueError(
            f'{src} is not an OpenMMLab 1.x checkpoint (its meta names no '
            'mmdet < 3, mmseg < 1, mmpose < 1 or mmcls < 1 version); 2.x '
            'checkpoints need no conversion.')
    converted, notes = upgrade_legacy_checkpoint(checkpoint)
    for note in notes:
        print(f'{src}: {note}')
    if config:
        from types import SimpleNamespace
        from mmengine.config import Config
        from mogavision.checkpoint import prepare_checkpoint
        from mogavision.config import build_model, config_dataset_classes
        from mogavision.engine.runtime import apply_common_options
        cfg = apply_common_options(Config.fromfile(config),
                                   SimpleNamespace(config=config))
        prepare_checkpoint(dict(converted), build_model(cfg), source=src,
                           dataset_classes=config_dataset_classes(cfg))
    with atomic_output(dst) as partial:  # a failure never leaves a partial dst
        torch.save(converted, partial)
    print(f'Saved {dst} ({len(converted["state_dict"])} tensors)')
    return converted


def main(argv=None):
    args = parse_args(argv)
    try:
        convert(args.src, args.dst, args.config)
    except (FileNotFoundError, ValueError, RuntimeError, TypeError) as exc:
        raise SystemExit(f'Conversion failed, nothing written to {args.dst}: '
                         f'{exc}') from exc


if __name__ == '__main__':
    main()
