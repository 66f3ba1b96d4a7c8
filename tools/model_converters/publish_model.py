# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Prepare a trained checkpoint for release, as the OpenMMLab toolboxes'
``publish_model.py`` does: keep the weights and ``meta`` (class names),
drop the optimizer, schedulers, message hub and other training state, and
name the file after the first 8 hex digits of its sha256.

Example:
    python tools/model_converters/publish_model.py \
        work_dirs/mask_rcnn_moganet_s/epoch_12.pth mask_rcnn_moganet_s.pth
    # -> mask_rcnn_moganet_s-1a2b3c4d.pth
"""
import argparse
import hashlib
import io
import os.path as osp

import mogavision  # noqa: F401  (safe checkpoint loading)
import torch

from mogavision.checkpoint import (PORTABLE_KEY, load_checkpoint_file,
                                   make_portable)
from mogavision.fileio import atomic_write

#: Top-level entries a published checkpoint keeps.
KEPT = ('meta', 'state_dict')
#: ``meta`` entries that only serve resuming.
TRAINING_META = ('hook_msgs', 'cfg', 'seed', 'exp_name', 'experiment_name')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Strip training state from a checkpoint and name it by '
        'its sha256')
    parser.add_argument('in_file', help='checkpoint written by tools/train.py')
    parser.add_argument('out_file', help='output name; "-<sha256[:8]>" is '
                        'added before the extension')
    parser.add_argument('--keep-ema', action='store_true',
                        help='publish the EMA weights (ema_state_dict) '
                        'instead of the raw ones, when the checkpoint has them')
    return parser.parse_args(argv)


def publish(in_file: str, out_file: str, keep_ema: bool = False) -> str:
    """Write the published checkpoint and return its final path."""
    checkpoint = load_checkpoint_file(in_file)
    if not isinstance(checkpoint, dict) or 'state_dict' not in checkpoint:
        raise ValueError(f'{in_file} has no state_dict; is it a checkpoint '
                         'written by tools/train.py?')
    dropped = sorted(k for k in checkpoint if k not in KEPT)
    published = {k: checkpoint[k] for k in KEPT if k in checkpoint}
    if keep_ema:
        if 'ema_state_dict' not in checkpoint:
            raise ValueError(f'--keep-ema: {in_file} has no ema_state_dict.')
        # mmengine's EMAHook keeps the averaged copy under module.* names.
        published['state_dict'] = {
            k[len('module.'):] if k.startswith('module.') else k: v
            for k, v in checkpoint['ema_state_dict'].items()
            if k != 'steps'}
    meta = dict(published.get('meta') or {})
    for key in TRAINING_META + (PORTABLE_KEY, ):
        meta.pop(key, None)
    published['meta'] = meta
    make_portable(published)  # loadable without mogavision
    buffer = io.BytesIO()
    torch.save(published, buffer)
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    stem, ext = osp.splitext(out_file)
    final = f'{stem}-{digest[:8]}{ext or ".pth"}'
    atomic_write(data, final)
    print(f'Dropped {", ".join(dropped) or "nothing"} from {in_file}; '
          f'published {final} (sha256 {digest})')
    return final


def main(argv=None):
    args = parse_args(argv)
    try:
        publish(args.in_file, args.out_file, args.keep_ema)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        raise SystemExit(f'Publishing failed, nothing written: {exc}') from exc


if __name__ == '__main__':
    main()
