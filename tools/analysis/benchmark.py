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
    python tools/analysis/benchmark.py configs/seg/upernet_moganet_t.py \
        --part model --modes eager compiled onnxruntime openvino

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

Inference also runs the exported model on the deployment runtimes
(:mod:`mogavision.deploy`), interleaved with the PyTorch modes:
``onnxruntime`` (ONNX Runtime, fp32, all graph optimisations),
``openvino`` (OpenVINO fp32, latency hint), ``openvino_throughput`` (fp32,
throughput hint: one stream per core, a batch split over them) and
``openvino_bf16`` (where the CPU has bf16; else the row says why not), and
``onnxruntime_int8``/``openvino_int8``: the same graph quantized to INT8 by
NNCF (:mod:`mogavision.deploy.quantize`, the family's recipe: what
``tools/deployment/quantize.py`` keeps in float stays float here too),
calibrated on ``--num-calib`` random inputs (speed does not depend on the
calibration data; accuracy is measured by ``quantize.py``). Each runs the
folded graph that ``tools/deployment/export_onnx.py --deploy`` writes,
with dynamic batch. With ``--part model`` every mode runs the
exported computation (``mogavision.deploy`` family: postprocessing in the
graph, e.g. NMS, the resize to the input, flip test) and ``max|diff|`` is
the family's comparison with eager (max |difference| of each output;
segmentation class maps, ``--export-options logits=False``: the fraction of
pixels with another label).
"""
import argparse
import copy
import os.path as osp
import platform
import resource
import statistics
import tempfile
import time
from contextlib import nullcontext

import mogavision  # noqa: F401
import torch
import torch._inductor.config as inductor_config
from mmengine.config import Config, DictAction

from mogavision.analysis import (LossForward, TensorForward, default_shape,
                                 input_channels)
from mogavision.config import load_model, resolve_config, task_of
from mogavision.deploy.compare import output_diffs
from mogavision.engine.runtime import (apply_common_options,
                                       retain_freed_memory)
from mogavision.ops import mmcv_roi_align_layers, use_parallel_roi_align

#: deployment runtimes: (backend, precision, backend options)
RUNTIME_MODES = {
    'onnxruntime': ('onnxruntime', 'fp32', dict(graph_optimization='all')),
    'openvino': ('openvino', 'fp32', dict(hint='latency')),
    'openvino_throughput': ('openvino', 'fp32', dict(hint='throughput')),
    'openvino_bf16': ('openvino', 'bf16', dict(hint='latency')),
    'onnxruntime_int8': ('onnxruntime', 'fp32', dict(
        graph_optimization='all')),
    'openvino_int8': ('openvino', 'fp32', dict(hint='latency')),
}
#: suffix of the modes that run the INT8 graph (fp32 elsewhere)
INT8_SUFFIX = '_int8'
INFER_MODES = ('eager', 'folded', 'channels_last', 'folded+channels_last',
               'compiled') + tuple(RUNTIME_MODES)
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
    parser.add_argument('--export-options', nargs='+', action=DictAction,
                        default={}, help='--part model: options of the '
                        'export family (e.g. logits=True)')
    parser.add_argument('--threads', type=int,
                        help='intra-op threads of every mode (default: '
                        "torch's)")
    parser.add_argument('--num-calib', type=int, default=8,
                        help='*_int8 modes: random calibration inputs')
    parser.add_argument('--float-modules', nargs='+', default=(),
                        metavar='REGEX', help='*_int8 modes: also keep '
                        'these modules in float (as quantize.py '
                        '--float-modules)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


class Unavailable(Exception):
    """A mode this machine cannot run (the message says why)."""


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
        if isinstance(getattr(model, 'model', None), torch.nn.Module):
            # A whole model (TensorForward, LossForward, an export family's
            # module): the heads' data-dependent code (proposals, RoIs,
            # losses) would break the graph many times; compile the static
            # part.
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


def export_for_runtime(base, inputs, args, out_dir, output_names):
    """The folded copy of ``base`` exported once (dynamic batch) for all
    runtime modes; returns the ONNX path."""
    from mogavision.deploy.export import torch_onnx_export
    path = osp.join(out_dir, 'benchmark.onnx')
    if not osp.exists(path):
        model = _prepare(base, 'folded', train=False).eval()
        with torch.no_grad():
            count = len(_outputs(model(inputs, *args.extra)))
        names = output_names or [f'output{i}' for i in range(count)]
        axes = {n: {0: 'batch'} for n in list(args.input_names) + names}
        torch_onnx_export(model, (inputs, *args.extra), path, names, axes,
                          input_names=args.input_names,
                          custom_translation_table=args.translation)
    return path


def quantize_for_runtime(path, inputs, args):
    """The exported graph at ``path`` quantized to INT8 once (the
    family's recipe; random calibration inputs of batch 1); returns the
    quantized graph's path."""
    try:
        import nncf  # noqa: F401
    except ImportError as error:
        raise Unavailable('INT8 modes need nncf (requirements/optional.txt)'
                          ) from error
    import onnx
    from mogavision.deploy.int8_recipes import recipe_for
    from mogavision.deploy.quantize import quantize_onnx
    int8_path = path.replace('.onnx', '_int8.onnx')
    if not osp.exists(int8_path):
        generator = torch.Generator().manual_seed(1)
        calibration = [{
            args.input_names[0]: torch.randn(
                1, *inputs.shape[1:], generator=generator).numpy(),
            **{n: t[:1].cpu().numpy()
               for n, t in zip(args.input_names[1:], args.extra)}}
            for _ in range(args.num_calib)]
        recipe = recipe_for(args.family_name,
                            float_modules=tuple(args.float_modules))
        onnx.save(quantize_onnx(onnx.load(path), calibration, recipe),
                  int8_path)
    return int8_path


def prepare_runtime(base, mode, args, inputs, out_dir, output_names):
    """A runtime mode's ``step()``: the exported folded graph on ONNX
    Runtime or OpenVINO with explicit precision."""
    from mogavision.deploy.backends import build_backend
    if args.train or args.device != 'cpu' or args.dtype != 'fp32':
        raise Unavailable('runtime modes time CPU fp32 inference (their '
                          'precision is their own)')
    backend_name, precision, options = RUNTIME_MODES[mode]
    path = export_for_runtime(base, inputs, args, out_dir, output_names)
    if mode.endswith(INT8_SUFFIX):
        path = quantize_for_runtime(path, inputs, args)
    try:
        backend = build_backend(backend_name, path, precision=precision,
                                threads=args.threads, **options)
    except (RuntimeError, ValueError) as error:
        raise Unavailable(str(error).split('. ')[0]) from error
    feeds = {n: t.numpy() for n, t in zip(args.input_names,
                                          (inputs, *args.extra))}

    def step():
        outputs = backend(feeds)
        return [torch.from_numpy(outputs[n]) for n in backend.output_names]

    return step


def prepare_mode(base, mode, args, inputs, reference, out_dir=None,
                 output_names=None):
    """The mode's model, warmed up (compiled), as a ``step()`` callable, and
    its accuracy and memory figures."""
    device = args.device
    if mode in RUNTIME_MODES:
        step = prepare_runtime(base, mode, args, inputs, out_dir,
                               output_names)
        for _ in range(args.warmup):
            step()
        return step, dict(mode=mode, max_diff=args.compare(step(), reference))
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
                return model(x, *args.extra)

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
        result['max_diff'] = args.compare(_outputs(step()), reference)
    return step, result


def max_abs_diff(outs, reference) -> float:
    """Max |difference| over all outputs (nan when they differ in number or
    shape)."""
    if len(outs) != len(reference):
        return float('nan')
    as_np = [{i: t.detach().float().cpu().numpy() for i, t in enumerate(ts)}
             for ts in (reference, outs)]
    try:
        return max(output_diffs(*as_np).values(), default=0.)
    except ValueError:
        return float('nan')


def family_compare(family):
    """Diff of a mode's outputs with eager's as the export family compares
    them (the largest over outputs)."""
    names = list(family.output_names)

    def compare(outs, reference):
        as_np = [{n: t.detach().cpu().numpy() for n, t in zip(names, ts)}
                 for ts in (reference, outs)]
        try:
            return max(family.compare_outputs(*as_np).values())
        except ValueError:  # another number of detections, say
            return float('nan')

    return compare


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


def whole_model(cfg, model, args):
    """``--part model`` inference: the export family's module (the computation
    the exported graph holds), else the tensor-mode forward; its shape and
    how its outputs are compared."""
    from mogavision.deploy import family_for
    try:
        family = family_for(cfg, **args.export_options)
    except ValueError as error:
        if args.export_options:
            raise
        print(f'no export family ({str(error).splitlines()[0]}); timing the '
              'tensor-mode forward')
        shape = tuple(args.shape or default_shape(cfg))
        return TensorForward(model, task_of(cfg), shape), shape, None
    shape = tuple(args.shape or family.default_shape())
    args.compare = family_compare(family)
    example = family.example_inputs(shape, args.batch_size)
    if isinstance(example, (tuple, list)):
        args.extra = tuple(t.to(args.device) for t in example[1:])
    args.input_names = list(family.input_names)
    args.translation = family.custom_translation_table
    args.family_name = family.name
    return family.export_module(model, shape), shape, family


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.threads = torch.get_num_threads()
    args.compare = max_abs_diff
    # inputs after the image batch (fixed), for multi-input export graphs
    args.extra, args.input_names, args.translation = (), ['input'], {}
    args.family_name = None  # a backbone: INT8 recipe of no family
    retained = not args.default_malloc and args.device == 'cpu' and \
        retain_freed_memory()
    torch.manual_seed(0)
    cfg = apply_common_options(Config.fromfile(resolve_config(args.config)),
                               args)  # the checks every tool runs
    model = load_model(cfg, args.checkpoint)
    shape = tuple(args.shape or default_shape(cfg))
    family = None
    if args.part == 'backbone':
        base = model.backbone
    elif args.train:
        base = LossForward(model, task_of(cfg), shape, args.batch_size)
    else:
        base, shape, family = whole_model(cfg, model, args)
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
    what = f'{args.part} ({family.name} export graph)' if family else args.part
    print(f'{kind}: {what} of {args.config}, input {args.batch_size}x3x'
          f'{shape[0]}x{shape[1]}, {args.dtype}, device {args.device} '
          f'({processor}, {torch.get_num_threads()} threads), median of '
          f'{args.repeats} interleaved rounds of {args.iters} iters after '
          f'{args.warmup} warm-up; glibc heap trimming '
          f'{"off" if retained else "default"}')
    reference = None
    if not args.train:
        with torch.no_grad():
            reference = _outputs(base.eval()(inputs, *args.extra))
    steps, results, skipped = {}, [], []
    output_names = list(family.output_names) if family else (
        [f'stage{i}' for i in base.out_indices]
        if args.part == 'backbone' else None)
    with tempfile.TemporaryDirectory(prefix='mogavision_bench_') as out_dir:
        for mode in modes:
            try:
                steps[mode], result = prepare_mode(
                    base, mode, args, inputs, reference, out_dir,
                    output_names)
            except Unavailable as why:
                skipped.append((mode, str(why)))
                continue
            results.append(result)
        if args.train:
            eager_loss = next((r['loss'] for r in results
                               if r['mode'] == 'eager'), float('nan'))
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
    for mode, why in skipped:
        print(f'{mode:22s} n/a: {why}')
    print(f'peak RSS of this process: '
          f'{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB')


if __name__ == '__main__':
    main()
