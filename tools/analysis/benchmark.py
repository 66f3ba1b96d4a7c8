# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Speed and memory of a config's MogaNet (or whole model): eager vs folded
(switch_to_deploy) vs channels_last vs torch.compile, for inference, or a
training step (forward + backward + AdamW) with and without with_cp.

Examples:
    python tools/analysis/benchmark.py configs/cls/moganet_t_224.py \
        --batch-size 16
    python tools/analysis/benchmark.py configs/det/mask_rcnn_moganet_xt.py \
        --part model --shape 800 1280
    python tools/analysis/benchmark.py configs/cls/moganet_s_224.py \
        --train --batch-size 16
    python tools/analysis/benchmark.py configs/det/mask_rcnn_moganet_xt.py \
        --part model --train --shape 512 512 --batch-size 2

Modes: ``compiled`` is, for inference, the folded model compiled with
inductor's freezing (weights become constants, prepacked for oneDNN); for
training, the model in channels_last compiled. On CPU the script first lets
glibc keep freed memory (``retain_freed_memory``, as ``tools/train.py`` and
``test.py`` do) so every mode runs with the same, fast allocator;
``--default-malloc`` skips that.

With ``--part model`` the whole model runs (tensor mode for inference; for
``--train`` its loss on fixed random ground truth) and ``compiled`` compiles
its backbone and neck; the heads' data-dependent code stays eager. In a model
with mmcv RoIAlign layers every mode but ``eager`` uses
:class:`~mogavision.ops.ParallelRoIAlign` (mmcv's kernels misread
channels-last features; on CPU it runs on all threads), and the extra mode
``parallel_roi_align`` is eager with only that change. A training mode's
first loss (same seed, same weights) is compared with eager's.
"""
import argparse
import copy
import platform
import resource
import statistics
import time
from contextlib import nullcontext

import mogavision  # noqa: F401
import torch
import torch._inductor.config as inductor_config
from mmengine.config import DictAction

from mogavision.analysis import (LossForward, TensorForward, default_shape,
                                 input_channels, load_config_and_model)
from mogavision.engine.runtime import retain_freed_memory, task_of
from mogavision.ops import mmcv_roi_align_layers, use_parallel_roi_align

INFER_MODES = ('eager', 'folded', 'channels_last', 'folded+channels_last',
               'compiled')
TRAIN_MODES = ('eager', 'channels_last', 'compiled', 'with_cp')
DTYPES = {'fp32': torch.float32, 'fp16': torch.float16, 'bf16': torch.bfloat16}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Benchmark MogaNet variants')
    parser.add_argument('config')
    parser.add_argument('checkpoint', nargs='?', help='optional weights')
    parser.add_argument('--part', choices=['backbone', 'model'],
                        default='backbone', help='time the backbone alone or '
                        'the whole model (tensor-mode forward)')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'))
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--iters', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--repeats', type=int, default=3,
                        help='timed rounds per mode, interleaved; the '
                        'median is reported')
    parser.add_argument('--dtype', choices=list(DTYPES), default='fp32',
                        help='autocast dtype (fp32 = no autocast)')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available()
                        else 'cpu')
    parser.add_argument('--train', action='store_true',
                        help='time a training step instead of inference')
    parser.add_argument('--modes', nargs='+', help='subset of modes to run')
    parser.add_argument('--default-malloc', action='store_true',
                        help="keep glibc's default heap trimming (slower "
                        'eager CPU runs; see retain_freed_memory)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def _sync(device):
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def _prepare(base, mode, train):
    model = copy.deepcopy(base)
    if mode != 'eager':
        use_parallel_roi_align(model)
    backbones = [m for m in model.modules() if hasattr(m, 'switch_to_deploy')
                 and hasattr(m, 'channels_last')]
    if 'folded' in mode:
        for backbone in backbones:
            backbone.switch_to_deploy()
    if 'channels_last' in mode or (mode == 'compiled' and train):
        model.to(memory_format=torch.channels_last)
        for backbone in backbones:
            backbone.channels_last = True
    if mode == 'with_cp':
        for backbone in backbones:
            backbone.with_cp = True
    if mode == 'compiled':
        torch._dynamo.reset()  # no reuse of another mode's compiled code
        if not train:
            for backbone in backbones:
                backbone.switch_to_deploy()
        if isinstance(model, (TensorForward, LossForward)):
            # The heads' data-dependent code (proposals, RoIs, losses) would
            # break the graph many times; compile the static part.
            detector = model.model
            for name in ('backbone', 'neck'):
                part = getattr(detector, name, None)
                if isinstance(part, torch.nn.Module):
                    setattr(detector, name, torch.compile(part))
        else:
            model = torch.compile(model)
    return model


def _outputs(out):
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (list, tuple)):
        return [t for o in out for t in _outputs(o)]
    if isinstance(out, dict):
        return [t for o in out.values() for t in _outputs(o)]
    return []


def _saved_activation_bytes(model, inputs):
    """Bytes of tensors autograd keeps for backward: the activation memory."""
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(inputs)
    return total, out


def prepare_mode(base, mode, args, inputs, reference):
    """The mode's model, warmed up (compiled), as a ``step()`` callable, and
    its accuracy and memory figures."""
    device = args.device
    model = _prepare(base, mode, args.train)
    autocast = torch.autocast(device.split(':')[0], dtype=DTYPES[args.dtype]) \
        if args.dtype != 'fp32' else nullcontext()
    if device.startswith('cuda'):
        torch.cuda.reset_peak_memory_stats()
    x = inputs.contiguous(memory_format=torch.channels_last) \
        if 'channels_last' in mode or (mode == 'compiled' and args.train) \
        else inputs
    if args.train:
        model.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

        def forward_loss():
            with autocast:
                return sum(o.float().mean() for o in _outputs(model(x)))

        def step():
            loss = forward_loss()
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    else:
        model.eval()

        def step():
            with torch.no_grad(), autocast:
                return model(x)

    # Inference: inductor's freezing makes the weights constants, folds them
    # and prepacks them for oneDNN with its own layout choice (channels-last
    # inside). It is read when the graph compiles, i.e. on the first call.
    freezing = mode == 'compiled' and not args.train
    with inductor_config.patch(freezing=freezing):
        if args.train:  # before any update: the weights are eager's
            torch.manual_seed(0)  # the same proposal and RoI sampling
            result_loss = forward_loss().item()
        for _ in range(args.warmup):
            step()
    _sync(device)
    result = dict(mode=mode)
    if device.startswith('cuda'):
        result['peak_mb'] = torch.cuda.max_memory_allocated() / 2**20
    if args.train:
        with autocast:
            saved, _ = _saved_activation_bytes(model, x)
        result['act_mb'] = saved / 2**20
        result['loss'] = result_loss
    else:
        outs = _outputs(step())
        result['max_diff'] = max((o.float() - r.float()).abs().max().item()
                                 for o, r in zip(outs, reference))
    return step, result


def time_modes(steps, args):
    """Median images/s per mode over ``args.repeats`` rounds; the rounds
    interleave the modes, so a slow phase of a shared machine hits all."""
    seconds = {mode: [] for mode in steps}
    for _ in range(args.repeats):
        for mode, step in steps.items():
            _sync(args.device)
            start = time.perf_counter()
            for _ in range(args.iters):
                step()
            _sync(args.device)
            seconds[mode].append(time.perf_counter() - start)
    images = args.iters * args.batch_size
    return {mode: (images / statistics.median(times), images / max(times),
                   images / min(times)) for mode, times in seconds.items()}


def main(argv=None):
    args = parse_args(argv)
    retained = not args.default_malloc and args.device == 'cpu' and \
        retain_freed_memory()
    torch.manual_seed(0)
    cfg, model = load_config_and_model(args.config, args.checkpoint,
                                       args.cfg_options)
    shape = tuple(args.shape or default_shape(cfg))
    if args.part == 'backbone':
        base = model.backbone
    elif args.train:
        base = LossForward(model, task_of(cfg), shape, args.batch_size)
    else:
        base = TensorForward(model, task_of(cfg), shape)
    base = base.to(args.device)
    inputs = torch.randn(args.batch_size, input_channels(base), *shape,
                         device=args.device)
    known = TRAIN_MODES if args.train else INFER_MODES
    unknown = set(args.modes or ()) - set(known + ('parallel_roi_align', ))
    if unknown:
        raise SystemExit(f'Unknown --modes {sorted(unknown)}; with'
                         f'{"" if args.train else "out"} --train the modes '
                         f'are {", ".join(known)} and parallel_roi_align.')
    modes = args.modes or known
    if args.modes is None and mmcv_roi_align_layers(base):
        modes = ('eager', 'parallel_roi_align') + modes[1:]

    kind = 'training step' if args.train else 'inference'
    processor = torch.cuda.get_device_name() if args.device.startswith(
        'cuda') else platform.processor() or platform.machine()
    print(f'{kind}: {args.part} of {args.config}, input {args.batch_size}x3x'
          f'{shape[0]}x{shape[1]}, {args.dtype}, device {args.device} '
          f'({processor}, {torch.get_num_threads()} threads), median of {args.repeats} '
          f'interleaved rounds of {args.iters} iters after {args.warmup} '
          f'warm-up; glibc heap trimming {"off" if retained else "default"}')
    reference = None
    if not args.train:
        with torch.no_grad():
            reference = _outputs(base.eval()(inputs))
    steps, results = {}, []
    for mode in modes:
        steps[mode], result = prepare_mode(base, mode, args, inputs, reference)
        results.append(result)
    if args.train:
        eager_loss = next((r['loss'] for r in results if r['mode'] == 'eager'),
                          float('nan'))
        for r in results:
            r['max_diff'] = abs(r['loss'] - eager_loss)
    for result, (ips, low, high) in zip(results,
                                        time_modes(steps, args).values()):
        result.update(ips=ips, range=f'{low:.3g}-{high:.3g}')
    eager = next((r['ips'] for r in results if r['mode'] == 'eager'), None)
    header = f'{"mode":22s} {"img/s":>9s} {"speedup":>8s}'
    header += ' act MB(saved) loss|diff|' if args.train \
        else ' max|diff| vs eager'
    if args.device.startswith('cuda'):
        header += '  peak MB'
    print(header + '  img/s range')
    for r in results:
        line = f'{r["mode"]:22s} {r["ips"]:9.3f} ' + (
            f'{r["ips"] / eager:7.2f}x' if eager else '       -')
        if args.train:
            line += f' {r["act_mb"]:13.1f}'
        line += f' {r["max_diff"]:.2e}'
        if 'peak_mb' in r:
            line += f'  {r["peak_mb"]:7.1f}'
        print(f'{line}  {r["range"]}')
    print(f'peak RSS of this process: '
          f'{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB')


if __name__ == '__main__':
    main()
