# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Convert a released MogaNet ImageNet checkpoint (the MogaNet repo's timm
``.pth.tar``) into a checkpoint that ``load_from`` and ``tools/test.py`` of
``configs/cls`` accept: ``{'state_dict': {backbone.*, head.fc.*}, 'meta'}``.

Example:
    python tools/model_converters/moganet_to_mogavision.py \
        moganet_small_sz224_8xbs128_ep300.pth.tar moganet_s_224.pth --ema
"""
import argparse
import os.path as osp

import torch

import mogavision  # noqa: F401  (safe checkpoint loading)
from mogavision.checkpoint import (classifier_dataset_meta,
                                   convert_release_classifier,
                                   load_checkpoint_file)
from mogavision.fileio import atomic_output

#: How many mapped keys to print as examples.
NUM_EXAMPLES = 4


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert a released MogaNet classification checkpoint '
        'for the mogavision cls configs')
    parser.add_argument('src', help='released checkpoint (.pth.tar)')
    parser.add_argument('dst', help='output checkpoint (.pth)')
    parser.add_argument(
        '--ema', action='store_true',
        help="take the EMA weights ('state_dict_ema'); the paper reports "
        'them for MogaNet-S and larger')
    return parser.parse_args(argv)


def build_meta(src: str, state_dict: dict, use_ema: bool) -> dict:
    """The ``meta`` of the converted checkpoint: its origin and, for a
    1000-class head, the ImageNet class names (used by the inferencer)."""
    meta = dict(source=osp.basename(src), use_ema=use_ema,
                converter='mogavision moganet_to_mogavision')
    dataset_meta = classifier_dataset_meta(state_dict)
    if dataset_meta:
        meta['dataset_meta'] = dataset_meta
    return meta


def convert(src: str, dst: str, use_ema: bool = False) -> list:
    """Convert ``src`` into ``dst``.

    Args:
        src (str): A released checkpoint.
        dst (str): Where the converted checkpoint goes.
        use_ema (bool): Take ``state_dict_ema``. Defaults to False.

    Returns:
        list: ``(source_key, target_key)`` pairs, in order.
    """
    checkpoint = load_checkpoint_file(src)
    state_dict, mapping = convert_release_classifier(checkpoint,
                                                     use_ema=use_ema)
    num_backbone = sum(t.startswith('backbone.') for _, t in mapping)
    print(f'Mapped {len(mapping)} tensors from {src}'
          f'{" (EMA weights)" if use_ema else ""}: {num_backbone} backbone '
          f'(backbone.*), {len(mapping) - num_backbone} head (head.fc.*).')
    examples = mapping[:NUM_EXAMPLES - 1] + [
        m for m in mapping if m[1].startswith('head.')][:1]
    for source, target in examples:
        print(f'  {source} -> {target}')
    if not use_ema and isinstance(checkpoint, dict) and \
            'state_dict_ema' in checkpoint:
        print('Note: the checkpoint also holds EMA weights (state_dict_ema); '
              'the paper reports them for MogaNet-S and larger: pass --ema.')
    with atomic_output(dst) as partial:  # a failure never leaves a partial dst
        torch.save(dict(state_dict=state_dict,
                        meta=build_meta(src, state_dict, use_ema)), partial)
    print(f'Saved {dst}')
    return mapping


def main(argv=None):
    args = parse_args(argv)
    try:
        convert(args.src, args.dst, use_ema=args.ema)
    except (FileNotFoundError, KeyError, RuntimeError, TypeError) as exc:
        raise SystemExit(f'Conversion failed, nothing written to {args.dst}: '
                         f'{exc}') from exc


if __name__ == '__main__':
    main()
