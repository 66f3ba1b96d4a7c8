# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Export a config's MogaNet backbone (and, for classification configs, the
whole classifier) to ONNX, then check ONNX Runtime against PyTorch.

Example:
    python tools/deployment/export_onnx.py configs/cls/moganet_t_224.py CKPT --out-dir onnx/
"""
import argparse
import os
import os.path as osp

import mogavision  # noqa: F401
import numpy as np
import torch
import torch.nn as nn
from mmengine.config import DictAction

from mogavision.analysis import (TensorForward, default_shape,
                                 load_config_and_model)
from mogavision.checkpoint import atomic_output
from mogavision.engine.runtime import task_of

TOLERANCE = 1e-4


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Export MogaNet to ONNX')
    parser.add_argument('config')
    parser.add_argument('checkpoint', nargs='?', help='weights (random without)')
    parser.add_argument('--out-dir', default='work_dirs/onnx')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'))
    parser.add_argument('--opset', type=int, default=17)
    parser.add_argument('--deploy', action='store_true',
                        help='fold BN and layer scales before exporting')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def export_and_check(module: nn.Module, inputs: torch.Tensor, path: str,
                     opset: int, output_names) -> float:
    """Export ``module`` to ``path`` and return the max abs difference
    between ONNX Runtime and PyTorch outputs (raises above TOLERANCE)."""
    import onnxruntime as ort
    module.eval()
    with torch.no_grad():
        expected = module(inputs)
    expected = [expected] if isinstance(expected, torch.Tensor) else list(expected)
    names = output_names[:len(expected)]
    with atomic_output(path) as partial:  # no half-written .onnx on failure
        torch.onnx.export(
            module, (inputs, ), partial, input_names=['input'],
            output_names=names,
            dynamic_axes={'input': {0: 'batch', 2: 'height', 3: 'width'},
                          **{n: {0: 'batch'} for n in names}},
            opset_version=opset, dynamo=False)
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    outputs = session.run(None, {'input': inputs.numpy()})
    diff = max(float(np.abs(o - e.numpy()).max())
               for o, e in zip(outputs, expected))
    print(f'{path}: {len(outputs)} outputs, max |onnxruntime - torch| = '
          f'{diff:.3e}')
    if diff > TOLERANCE:
        raise RuntimeError(f'ONNX Runtime output differs from PyTorch by '
                           f'{diff:.3e} > {TOLERANCE} for {path}')
    return diff


def main(argv=None):
    args = parse_args(argv)
    cfg, model = load_config_and_model(args.config, args.checkpoint,
                                       args.cfg_options)
    if args.deploy:
        model.backbone.switch_to_deploy()
    os.makedirs(args.out_dir, exist_ok=True)
    name = osp.splitext(osp.basename(args.config))[0]
    inputs = torch.randn(1, 3, *(args.shape or default_shape(cfg)))
    backbone = model.backbone
    export_and_check(backbone, inputs, osp.join(args.out_dir,
                                               f'{name}_backbone.onnx'),
                     args.opset, [f'stage{i}' for i in backbone.out_indices])
    if task_of(cfg) == 'cls':
        export_and_check(TensorForward(model, 'cls', inputs.shape[2:]), inputs,
                         osp.join(args.out_dir, f'{name}_classifier.onnx'),
                         args.opset, ['logits'])


if __name__ == '__main__':
    main()
