# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""INT8 post-training quantization of whole-model exports with NNCF.

``quantize_export`` turns ``FP32_DIR/end2end.onnx`` (written by
:func:`mogavision.deploy.export.export_model`) into an INT8 QDQ ONNX file
``OUT_DIR/end2end.onnx`` with its ``end2end.json``: the export's JSON,
plus a ``quantization`` entry (calibration source and count, NNCF preset,
what was kept in float, the fp32 file's SHA-256, the NNCF version, and the
fp32 and INT8 metrics when they were measured). ONNX Runtime and OpenVINO
run the file as they run the fp32 one (``tools/test.py CONFIG
OUT_DIR/end2end.onnx --backend openvino``, :func:`init_deployed_model`).

What stays in float is the family's recipe
(:mod:`mogavision.deploy.int8_recipes`), given to NNCF as an
``IgnoredScope``: the postprocessing that the graphs hold (NMS, box
decoding, RoIAlign, softmax/argmax, the final resize) computes coordinates
and scores that 8 bits cannot carry.

Nothing is written unless the whole run succeeds: the files are made and
evaluated in a temporary directory and moved into place (each through
:func:`mogavision.checkpoint.atomic_output`) only at the end; a metric drop
beyond ``max_drop`` writes nothing.
"""
import copy
import json
import numbers
import os.path as osp
import shutil
import tempfile
import warnings
from typing import Dict, List, Optional, Tuple

from mmengine.config import Config

from mogavision.fileio import atomic_output, atomic_write
from .calibration import CalibrationData, same_data
from .export import (META_FILE, ONNX_FILE, check_export_fits_config,
                     file_sha256, meta_path, read_export_meta)
from .int8_recipes import (Int8Recipe, describe_float, ignored_scope,
                           kept_in_float, recipe_for)

#: the JSON entry that marks (and describes) a quantized export
QUANTIZATION_KEY = 'quantization'
#: ONNX operators that only quantized graphs contain
QUANTIZED_OPS = ('QuantizeLinear', 'DequantizeLinear', 'QLinearConv',
                 'QLinearMatMul', 'ConvInteger', 'MatMulInteger',
                 'DynamicQuantizeLinear')
#: CPU flags of int8 dot-product instructions (x86 VNNI, AMX; Arm dot
#: product), as /proc/cpuinfo names them
INT8_CPU_FLAGS = ('avx512_vnni', 'avx_vnni', 'avx_vnni_int8', 'amx_int8',
                  'asimddp')
#: task -> metrics that --max-drop limits, and their factor to points
#: (mmdet and mmpose report COCO AP in [0, 1]; mmpretrain and mmseg in %)
KEY_METRICS = {
    'cls': {'accuracy/top1': 1.},
    'det': {'coco/bbox_mAP': 100., 'coco/segm_mAP': 100.,
            'pascal_voc/mAP': 100.},
    'seg': {'mIoU': 1.},
    'pose': {'coco/AP': 100., 'PCK': 100.},
}


# ------------------------------------------------------------------ checks
def cpu_flags() -> Optional[set]:
    """The CPU's feature flags (Linux ``/proc/cpuinfo``), None elsewhere."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                key, _, value = line.partition(':')
                if key.strip() in ('flags', 'Features'):
                    return set(value.split())
    except OSError:
        pass
    return None


def warn_without_int8_units(flags: Optional[set] = None) -> bool:
    """Warn (and return True) when the CPU lacks int8 dot-product
    instructions: INT8 models may then run slower than fp32. Unknown CPUs
    (no flags) are not warned about."""
    flags = cpu_flags() if flags is None else flags
    if flags is None or set(flags) & set(INT8_CPU_FLAGS):
        return False
    warnings.warn(
        'This CPU has no int8 dot-product instructions (none of '
        f'{", ".join(INT8_CPU_FLAGS)}): the INT8 model is made as '
        'anywhere, but on this CPU it may run slower than fp32. Benchmark '
        'it where it will be deployed (tools/analysis/benchmark.py --modes '
        'openvino openvino_int8).')
    return True


def quantized_ops(model) -> List[str]:
    """The quantization operators an ONNX model holds (none in fp32)."""
    return sorted({node.op_type for node in model.graph.node
                   if node.op_type in QUANTIZED_OPS})


def check_fp32_export(onnx_path: str, model) -> None:
    """Refuse an export that is already quantized."""
    meta = read_export_meta(onnx_path)
    ops = quantized_ops(model)
    if QUANTIZATION_KEY in meta or ops:
        source = meta.get(QUANTIZATION_KEY, {}).get('fp32_onnx')
        raise ValueError(
            f'{onnx_path} is already quantized ('
            + (f'INT8 of {source}' if source else f'it holds {ops}') +
            '): quantize the fp32 export that '
            'tools/deployment/export_onnx.py writes instead.')


def graph_input_shape(model) -> List[Optional[int]]:
    """The shape of the graph's ``input``, None per dynamic axis."""
    from .base import INPUT_NAME
    for value in model.graph.input:
        if value.name == INPUT_NAME:
            return [d.dim_value if d.HasField('dim_value') else None
                    for d in value.type.tensor_type.shape.dim]
    raise ValueError(f'The graph has no input named {INPUT_NAME!r}; it was '
                     'not written by mogavision.deploy.')


def check_out_dir(onnx_path: str, out_dir: str) -> None:
    """The INT8 files must not replace the fp32 ones."""
    if osp.abspath(osp.join(out_dir, ONNX_FILE)) == osp.abspath(onnx_path) \
            or osp.abspath(osp.join(out_dir, META_FILE)) == \
            osp.abspath(meta_path(onnx_path)):
        raise ValueError(
            f'--out-dir {out_dir} holds the fp32 export {onnx_path}, which '
            'the INT8 files would replace: choose another --out-dir.')


# ------------------------------------------------------------ quantization
def fold_constant_casts(model) -> int:
    """Replace, in place, every ``Cast`` of an initializer by the cast
    initializer; returns how many were folded.

    NNCF 3.4's first pass (``eliminate_nop_cast``) reads the input type of
    every ``Cast`` and fails with ``AttributeError: type`` when that input
    is an initializer (a ``TensorProto`` has no ``type``), which the
    Cascade R-CNN exports contain. Folding them first gives the same graph
    values and a graph NNCF can read.
    """
    from onnx import helper, numpy_helper
    graph = model.graph
    initializers = {t.name: t for t in graph.initializer}
    graph_inputs = {i.name for i in graph.input}
    folded = []
    for node in graph.node:
        if node.op_type != 'Cast' or node.input[0] not in initializers \
                or node.input[0] in graph_inputs:
            continue
        to = next(helper.get_attribute_value(a) for a in node.attribute
                  if a.name == 'to')
        value = numpy_helper.to_array(initializers[node.input[0]])
        graph.initializer.append(numpy_helper.from_array(
            value.astype(helper.tensor_dtype_to_np_dtype(to)),
            node.output[0]))
        folded.append(node)
    for node in folded:
        graph.node.remove(node)
    outputs = {n for node in folded for n in node.output}
    for info in [v for v in graph.value_info if v.name in outputs]:
        graph.value_info.remove(info)
    return len(folded)


def quantize_onnx(model, calibration: CalibrationData, recipe: Int8Recipe):
    """``nncf.quantize`` of an ``onnx.ModelProto`` for CPU; returns the
    quantized ModelProto (QDQ)."""
    import logging

    import nncf
    from nncf.common.logging import nncf_logger
    fold_constant_casts(model)
    ignored = nncf.IgnoredScope(**ignored_scope(model, recipe),
                                validate=False)
    level = nncf_logger.level
    # NNCF logs one INFO line per node of the ignored scope (thousands in
    # a detector); the JSON lists them by type
    nncf.set_log_level(logging.WARNING)
    try:
        return nncf.quantize(
            model, nncf.Dataset(calibration),
            preset=nncf.QuantizationPreset(recipe.preset),
            target_device=nncf.TargetDevice.CPU,
            subset_size=len(calibration), ignored_scope=ignored,
            **recipe.options)
    finally:
        nncf.set_log_level(level)


def quantization_meta(fp32_path: str, calibration: CalibrationData,
                      recipe: Int8Recipe, model, quantized) -> dict:
    """The JSON's ``quantization`` entry."""
    import nncf
    counts = {}
    for node in quantized.graph.node:
        if node.op_type == 'QuantizeLinear':
            counts['quantizers'] = counts.get('quantizers', 0) + 1
    return dict(
        tool='nncf',
        nncf_version=nncf.__version__,
        format='QDQ (QuantizeLinear/DequantizeLinear), int8 weights per '
        'channel, 8-bit activations',
        preset=recipe.preset,
        target_device='CPU',
        calibration=dict(source=calibration.source,
                         count=len(calibration)),
        kept_in_float=kept_in_float(model, recipe),
        float_modules=list(recipe.float_blocks + recipe.float_modules),
        quantizers=counts.get('quantizers', 0),
        fp32_onnx=osp.basename(osp.dirname(osp.abspath(fp32_path))) +
        '/' + osp.basename(fp32_path),
        fp32_onnx_sha256=file_sha256(fp32_path),
    )


# -------------------------------------------------------------- evaluation
def evaluation_problem(cfg: Config) -> Optional[str]:
    """Why the config's evaluation split (``test_dataloader`` +
    ``test_evaluator``) cannot be evaluated here; None when it can."""
    from mogavision.engine.runtime import check_data_paths
    if not cfg.get('test_dataloader') or not cfg.get('test_evaluator'):
        return 'the config has no test_dataloader/test_evaluator'
    try:
        check_data_paths(cfg, 'test')
    except FileNotFoundError as error:
        return str(error)
    return None


def evaluate(cfg: Config, onnx_path: str, backend: str, name: str,
             **backend_options) -> Dict[str, float]:
    """The config's test split and evaluator on an export, with the runner
    of ``tools/test.py --backend`` (logs in ``cfg.work_dir``)."""
    from .runner import build_deployed_runner
    cfg = copy.deepcopy(cfg)
    cfg.experiment_name = f'quantize_{name}'
    runner = build_deployed_runner(cfg, onnx_path, backend=backend,
                                   **backend_options)
    return metric_values(runner.test())


def metric_values(results: dict) -> Dict[str, float]:
    """The numbers of an evaluator's results, as floats (mmseg reports
    numpy float32, which is no Python float)."""
    return {k: float(v) for k, v in results.items()
            if isinstance(v, numbers.Real) and not isinstance(v, bool)}


def metric_drops(task: str, fp32: Dict[str, float],
                 int8: Dict[str, float]) -> Dict[str, float]:
    """Drop (fp32 - INT8) in points (x100 for metrics in [0, 1]) of each
    key metric of ``task`` that both evaluations report."""
    return {key: (fp32[key] - int8[key]) * scale
            for key, scale in KEY_METRICS.get(task, {}).items()
            if key in fp32 and key in int8}


class DropTooLarge(RuntimeError):
    """The INT8 model lost more than ``max_drop`` points (nothing written).
    """


def check_drop(task: str, fp32: Dict[str, float], int8: Dict[str, float],
               max_drop: float) -> Dict[str, float]:
    """The drops; raises :class:`DropTooLarge` when one exceeds
    ``max_drop`` and ``ValueError`` when no key metric was measured."""
    drops = metric_drops(task, fp32, int8)
    if not drops:
        raise ValueError(
            f'--max-drop: the evaluation reported {sorted(fp32)}, none of '
            f'the key metrics {sorted(KEY_METRICS.get(task, {}))} that it '
            'limits.')
    worse = {k: d for k, d in drops.items() if d > max_drop}
    if worse:
        raise DropTooLarge(
            'INT8 model refused: ' + ', '.join(
                f'{k} {fp32[k]:.4g} -> {int8[k]:.4g} (-{d:.2f} points)'
                for k, d in worse.items()) +
            f' exceeds --max-drop {max_drop:g}; nothing written. Calibrate '
            'on more or more representative images (--num-calib, '
            '--calib-images), try --preset, or keep more in float.')
    return drops


# ------------------------------------------------------------------- entry
def quantize_export(cfg: Config, onnx_path: str, out_dir: str,
                    calib_split: str = 'train',
                    calib_images: Optional[str] = None,
                    num_calib: Optional[int] = None,
                    preset: Optional[str] = None,
                    float_modules: Tuple[str, ...] = (),
                    evaluate_split: bool = True,
                    max_drop: Optional[float] = None,
                    eval_backend: str = 'openvino',
                    log=print) -> dict:
    """Quantize an fp32 whole-model export of ``cfg`` to INT8.

    Args:
        cfg (Config): The config the model was exported from, prepared as
            ``tools/test.py`` prepares it (``--cfg-options``, work dir).
        onnx_path (str): ``FP32_DIR/end2end.onnx`` (its JSON beside it).
        out_dir (str): Where the INT8 ``end2end.onnx``/``.json`` go.
        calib_split (str): ``train`` (default: the evaluation split stays
            unseen) or ``val``, through the test pipeline.
        calib_images (str, optional): A folder of images instead of a split.
        num_calib (int, optional): Calibration images (default 300, fewer
            when the source has fewer).
        preset (str, optional): NNCF preset, ``performance`` or ``mixed``
            (default: the family's recipe).
        float_modules (tuple[str]): Module path patterns also kept in
            float (see :class:`Int8Recipe`).
        evaluate_split (bool): Evaluate fp32 and INT8 on the config's test
            split when it has one.
        max_drop (float, optional): Largest accepted drop of the key metric
            in points (needs the test split).
        eval_backend (str): Runtime of the evaluation.
        log (callable): Where progress lines go.

    Returns:
        dict: ``onnx``/``meta_file`` written, the ``meta``, ``metrics``
        (``fp32``/``int8``, empty when not evaluated) and ``drops``.

    Raises:
        ValueError: An already quantized or mismatched export, an empty
            calibration set, ``max_drop`` without an evaluation split.
        DropTooLarge: The drop exceeds ``max_drop`` (nothing written).
    """
    import onnx
    from mogavision.engine.runtime import task_of
    check_out_dir(onnx_path, out_dir)
    meta = read_export_meta(onnx_path)
    family = check_export_fits_config(meta, cfg, where=onnx_path)
    model = onnx.load(onnx_path)
    check_fp32_export(onnx_path, model)
    if max_drop is not None and max_drop < 0:
        raise ValueError(f'--max-drop must be >= 0 (points), got {max_drop}')
    problem = evaluation_problem(cfg) if evaluate_split or max_drop is not \
        None else 'not asked for'
    if max_drop is not None and (problem or not evaluate_split):
        raise ValueError(
            '--max-drop needs the evaluation split (the config\'s '
            'test_dataloader and test_evaluator) to measure the drop: '
            f'{"--skip-eval was given" if not evaluate_split else problem}'
            '\nPoint the config at annotated data with --cfg-options '
            'test_dataloader.dataset.data_root=... (and the evaluator\'s '
            'ann_file), or quantize without --max-drop.')
    warn_without_int8_units()

    calibration = CalibrationData.from_images(family, calib_images,
                                              num_calib) \
        if calib_images else CalibrationData.from_split(family, calib_split,
                                                        num_calib)
    calibration.graph_input = (onnx_path, graph_input_shape(model))
    if not calib_images and not problem and same_data(cfg, calib_split):
        warnings.warn(f'The {calib_split} split used for calibration is also '
                      'the evaluation split: its metrics are not held out.')
    recipe = recipe_for(family.name, preset, float_modules)
    log(f'Calibrating on {len(calibration)} images of '
        f'{calibration.source}; preset {recipe.preset}; kept in float: '
        f'{describe_float(kept_in_float(model, recipe))}')
    quantized = quantize_onnx(model, calibration, recipe)

    task = task_of(cfg)
    int8_meta = dict(meta)
    int8_meta.pop('check_max_diff', None)  # the fp32 export's check
    int8_meta[QUANTIZATION_KEY] = quantization_meta(
        onnx_path, calibration, recipe, model, quantized)
    metrics, drops = {}, {}
    with tempfile.TemporaryDirectory(prefix='mogavision_int8_') as tmp:
        tmp_onnx = osp.join(tmp, ONNX_FILE)
        onnx.save(quantized, tmp_onnx)
        int8_meta['onnx_sha256'] = file_sha256(tmp_onnx)
        _write_json(int8_meta, meta_path(tmp_onnx))
        if problem is None:
            log(f'Evaluating fp32 and INT8 on the test split ({eval_backend})')
            metrics = dict(
                fp32=evaluate(cfg, onnx_path, eval_backend, 'fp32'),
                int8=evaluate(cfg, tmp_onnx, eval_backend, 'int8'))
            drops = metric_drops(task, metrics['fp32'], metrics['int8'])
            log(format_metrics(metrics, drops))
            if max_drop is not None:
                check_drop(task, metrics['fp32'], metrics['int8'], max_drop)
            int8_meta[QUANTIZATION_KEY]['evaluation'] = dict(
                split='test', backend=eval_backend, fp32=metrics['fp32'],
                int8=metrics['int8'], drop_points=drops)
            _write_json(int8_meta, meta_path(tmp_onnx))
        else:
            log(f'Not evaluated: {problem.splitlines()[0]}')
        onnx_file = osp.join(out_dir, ONNX_FILE)
        meta_file = osp.join(out_dir, META_FILE)
        with atomic_output(onnx_file) as partial:
            shutil.copyfile(tmp_onnx, partial)
        atomic_write(json.dumps(int8_meta, indent=2) + '\n', meta_file)
    return dict(onnx=onnx_file, meta_file=meta_file, meta=int8_meta,
                metrics=metrics, drops=drops, family=family)


def _write_json(meta: dict, path: str):
    with open(path, 'w') as f:
        json.dump(meta, f, indent=2)
        f.write('\n')


def format_metrics(metrics: Dict[str, Dict[str, float]],
                   drops: Dict[str, float]) -> str:
    """fp32 vs INT8 metrics, one line each."""
    lines = [f'{"metric":24s} {"fp32":>10s} {"int8":>10s} {"drop (pt)":>10s}']
    for key, value in metrics['fp32'].items():
        int8 = metrics['int8'].get(key, float('nan'))
        drop = f'{drops[key]:10.2f}' if key in drops else ' ' * 10
        lines.append(f'{key:24s} {value:10.4f} {int8:10.4f} {drop}')
    return '\n'.join(lines)
