# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Whole-model export: ``DIR/end2end.onnx`` and ``DIR/end2end.json``.

The graph comes from ``torch.onnx.export(..., dynamo=True)`` (torch.export +
onnxscript). If that exporter fails on a model, the legacy TorchScript
exporter is the fallback (``dynamo=False``; torch deprecates it); the JSON's
``exporter`` says which one wrote the file. The ONNX file is checked with
ONNX Runtime against PyTorch before it is renamed into place, so
``end2end.onnx`` is always a complete, checked export; the JSON records the
ONNX file's SHA-256, so a JSON and an ONNX file of different exports are
told apart at load time.
"""
import hashlib
import json
import os.path as osp
import warnings
from functools import partial
from typing import Dict, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config

from mogavision.fileio import atomic_output, atomic_write
from mogavision.version import __version__
from .base import (DEFAULT_TOLERANCE, INPUT_NAME, ExportFamily, family_for,
                   get_family, preprocess_settings, test_pipeline)
from .compare import output_diffs

#: file names inside the export directory
ONNX_FILE = 'end2end.onnx'
META_FILE = 'end2end.json'
#: opset of new exports: 20, the first with a ``Gelu`` operator. At 18 the
#: exact GELU is written out as ``x * (1 + erf(x / sqrt(2))) / 2``, which
#: OpenVINO fuses back in fp32 but not once INT8 quantizers sit inside it
#: (docs/int8.md: the INT8 classifier ran 1.2x faster as one ``Gelu``)
DEFAULT_OPSET = 20
#: format of the JSON; bumped when its keys change meaning
META_FORMAT = 1


def meta_path(onnx_path: str) -> str:
    """The JSON beside an ONNX file: ``DIR/x.onnx`` -> ``DIR/x.json``."""
    return osp.splitext(onnx_path)[0] + '.json'


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def _as_list(outputs):
    return [outputs] if isinstance(outputs, torch.Tensor) else list(outputs)


def torch_onnx_export(module: nn.Module, inputs, path: str, output_names,
                      dynamic_axes: Dict[str, Dict[int, str]],
                      opset: int = DEFAULT_OPSET, dynamo: bool = True,
                      input_names=(INPUT_NAME, ),
                      custom_translation_table: Optional[dict] = None) -> str:
    """Export ``module(*inputs)`` to ``path``; returns the exporter used
    (``'dynamo'`` or ``'torchscript'``).

    With ``dynamo`` the new exporter runs first (dynamic sizes given as
    ``dynamic_shapes`` of the inputs; the outputs' follow); if it raises, the
    legacy exporter is tried with a warning that carries the first error.
    """
    inputs = _as_tuple(inputs)
    first_error = None
    if dynamo:
        try:
            torch.onnx.export(
                module, inputs, path, input_names=list(input_names),
                output_names=list(output_names),
                dynamic_shapes=tuple(dynamic_axes.get(n) or None
                                     for n in input_names),
                opset_version=opset, dynamo=True, external_data=False,
                custom_translation_table=custom_translation_table or None,
                verbose=False)
            return 'dynamo'
        except Exception as error:  # noqa: BLE001  (any exporter failure)
            first_error = error
            warnings.warn(
                'torch.onnx.export(dynamo=True) failed '
                f'({type(error).__name__}: '
                f'{str(error).splitlines()[0][:300]}); '
                'falling back to the legacy TorchScript exporter.')
    with warnings.catch_warnings():
        # The deprecation notice is the reason this path is the fallback.
        warnings.filterwarnings('ignore', category=DeprecationWarning)
        try:
            torch.onnx.export(
                module, inputs, path, input_names=list(input_names),
                output_names=list(output_names), dynamic_axes=dynamic_axes,
                opset_version=opset, dynamo=False)
        except Exception as error:
            if first_error is not None:
                raise error from first_error
            raise
    return 'torchscript'


def _as_tuple(inputs) -> tuple:
    return tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs, )


def ort_outputs(path: str, feeds: Dict[str, np.ndarray],
                output_names) -> Dict[str, np.ndarray]:
    """Run an ONNX file once on ONNX Runtime's CPU provider."""
    import onnxruntime as ort
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    values = session.run(list(output_names), feeds)
    return dict(zip(output_names, values))


def export_meta(family: ExportFamily, model: nn.Module,
                shape: Tuple[int, int], dynamic: bool, batch_size: int,
                config: Optional[str], checkpoint: Optional[str],
                deploy: bool) -> dict:
    """The JSON beside the ONNX file: what a runtime needs to reproduce the
    config's test pipeline around the graph."""
    cfg = family.cfg
    dataset_meta = family.dataset_meta()
    classes = dataset_meta.get('classes')
    meta = dict(
        format=META_FORMAT,
        mogavision_version=__version__,
        torch_version=torch.__version__.split('+')[0],
        config=osp.basename(config) if config else None,
        checkpoint=osp.basename(checkpoint) if checkpoint else None,
        folded=bool(deploy),
        family=family.name,
        task=family.task,
        options=dict(family.options),
        input=dict(name=INPUT_NAME, shape=[batch_size, 3, *map(int, shape)],
                   dynamic=bool(dynamic), dtype='float32',
                   layout='NCHW, normalised and padded as preprocess says'),
        inputs=list(family.input_names),
        outputs=list(family.output_names),
        num_classes=family.num_classes(),
        classes=list(classes) if classes is not None else None,
        preprocess=preprocess_settings(cfg),
        test_pipeline=_jsonable(test_pipeline(cfg)),
    )
    meta.update(_jsonable(family.meta(model, shape)))
    return meta


def _jsonable(value):
    """Config values (tuples, ConfigDicts, numpy scalars) as plain JSON."""
    return json.loads(json.dumps(value, default=_json_default))


def _json_default(value):
    if isinstance(value, (np.generic, )):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return dict(value)
    return str(value)


def dynamic_by_default(family: ExportFamily, dynamic: bool = False,
                       static: bool = False) -> bool:
    """Whether to export with dynamic height and width: as asked, else
    what the config's test pipeline needs (dynamic where it keeps the
    aspect ratio, i.e. the family has no fixed input size).

    Raises:
        ValueError: Both ``dynamic`` and ``static`` are asked for.
    """
    if dynamic and static:
        raise ValueError('--dynamic and --static contradict each other; '
                         'pass one (or neither: the test pipeline decides).')
    if dynamic or static:
        return bool(dynamic)
    return family.fixed_input_shape() is None


def export_model(cfg: Config, model: nn.Module, out_dir: str,
                 shape: Optional[Tuple[int, int]] = None,
                 dynamic: bool = False, batch_size: int = 1,
                 opset: int = DEFAULT_OPSET,
                 options: Optional[dict] = None,
                 config: Optional[str] = None,
                 checkpoint: Optional[str] = None,
                 deploy: bool = False,
                 dynamo: bool = True) -> dict:
    """Export ``model`` (built from ``cfg``, eval mode, weights loaded) whole
    to ``out_dir/end2end.onnx`` + ``end2end.json``.

    Args:
        cfg (Config): The model's config.
        model (nn.Module): The toolbox model.
        out_dir (str): Where the two files go.
        shape (tuple[int, int], optional): (H, W) to export at (the example
            size with ``dynamic``). Defaults to the family's default.
        dynamic (bool): Dynamic batch, height and width (else batch only).
        batch_size (int): Batch of the example input.
        opset (int): ONNX opset. Defaults to :data:`DEFAULT_OPSET`.
        options (dict, optional): The family's export options.
        config, checkpoint (str, optional): Recorded in the JSON.
        deploy (bool): Whether the backbone was folded (recorded).
        dynamo (bool): Try the dynamo exporter first (default) or use the
            legacy one directly.

    Returns:
        dict: ``onnx``/``meta`` paths, the ``meta`` written, ``diffs`` (max
        |ONNX Runtime - PyTorch| per output) and the ``family``.

    Raises:
        RuntimeError: ONNX Runtime disagrees with PyTorch beyond the
            family's tolerance (nothing is written).
    """
    family = family_for(cfg, **(options or {}))
    shape = tuple(int(s) for s in (shape or family.default_shape()))
    fixed = family.fixed_input_shape()
    if fixed is not None and shape != tuple(fixed):
        warnings.warn(f'Exporting at {shape[0]}x{shape[1]}, but the test '
                      f'pipeline of this config gives {fixed[0]}x{fixed[1]} '
                      'inputs: tools/test.py will refuse this export for '
                      'this config (use --shape to match, or change the '
                      'pipeline with --cfg-options).')
    module = family.export_module(model.eval(), shape).eval()
    inputs = _as_tuple(family.example_inputs(shape, batch_size))
    with torch.no_grad():
        expected = _as_list(module(*inputs))
    names = list(family.output_names)
    if len(expected) != len(names):
        raise RuntimeError(f'Export family {family.name!r} returned '
                           f'{len(expected)} outputs for {len(names)} names '
                           f'{names}')
    expected = {n: e.detach().cpu().numpy() for n, e in zip(names, expected)}
    onnx_file = osp.join(out_dir, ONNX_FILE)
    # A dynamic export is also checked at another size (and batch): a size
    # frozen into the graph (an int() of a shape, an exporter's static
    # decomposition) gives right answers only at the example's size.
    other = None
    if dynamic:
        divisor = preprocess_settings(cfg)['pad_size_divisor'] or 32
        other = _as_tuple(family.example_inputs(
            (shape[0] + divisor, shape[1] + 2 * divisor), batch_size + 1))
    exporter, diffs = export_checked(
        module, inputs, onnx_file, expected, family.dynamic_axes(dynamic),
        family.compare_outputs, family.tolerances, opset,
        dynamo=dynamo and family.dynamo,
        what=f'{family.name} export of {config or "the config"}',
        input_names=family.input_names,
        custom_translation_table=family.custom_translation_table,
        other_inputs=other)
    meta = export_meta(family, model, shape, dynamic, batch_size, config,
                       checkpoint, deploy)
    meta.update(exporter=exporter, opset=opset, onnx_sha256=file_sha256(
        onnx_file), check_max_diff=diffs)
    meta_file = osp.join(out_dir, META_FILE)
    atomic_write(json.dumps(meta, indent=2) + '\n', meta_file)
    return dict(onnx=onnx_file, meta_file=meta_file, meta=meta, diffs=diffs,
                family=family, tolerances=family.tolerances)


def export_checked(module: nn.Module, inputs, path: str,
                   expected: Dict[str, np.ndarray],
                   dynamic_axes: Dict[str, Dict[int, str]], compare,
                   tolerances: Dict[str, float], opset: int = DEFAULT_OPSET,
                   dynamo: bool = True, what: str = 'the export',
                   input_names=(INPUT_NAME, ),
                   custom_translation_table: Optional[dict] = None,
                   other_inputs=None):
    """Export to a partial file, compare ONNX Runtime's outputs with
    ``expected`` by ``compare(expected, actual) -> {name: diff}`` (and, for
    ``other_inputs``, with ``module``'s outputs on them), and only then
    rename it to ``path``.

    Returns:
        tuple: The exporter used and the diffs (the worst of the checks).
    """
    names = list(expected)
    inputs = _as_tuple(inputs)
    with atomic_output(path) as partial:
        exporter = torch_onnx_export(
            module, inputs, partial, names, dynamic_axes, opset,
            dynamo=dynamo, input_names=input_names,
            custom_translation_table=custom_translation_table)
        checks = [(inputs, expected, '')]
        if other_inputs is not None:
            other_inputs = _as_tuple(other_inputs)
            with torch.no_grad():
                other = _as_list(module(*other_inputs))
            checks.append((other_inputs, {
                n: o.detach().cpu().numpy() for n, o in zip(names, other)},
                ' at input ' + 'x'.join(map(str, other_inputs[0].shape)) +
                ' (another size than the example: a size fixed in the '
                'dynamic graph?)'))
        diffs = {}
        for check_inputs, want, where in checks:
            feeds = {n: t.numpy() for n, t in zip(input_names, check_inputs)}
            got = compare(want, ort_outputs(partial, feeds, names))
            for name, diff in got.items():
                limit = tolerances.get(name, DEFAULT_TOLERANCE)
                if not diff <= limit:  # NaN fails too
                    raise RuntimeError(
                        f'ONNX Runtime output {name!r} differs from PyTorch '
                        f'by {diff:.3e} > {limit:.1e}{where} ({what}); '
                        'nothing written.')
                diffs[name] = max(diffs.get(name, 0.), diff)
    return exporter, diffs


def export_backbone(backbone: nn.Module, out_dir: str,
                    shape: Tuple[int, int] = (224, 224),
                    dynamic: bool = False, batch_size: int = 1,
                    opset: int = DEFAULT_OPSET, dynamo: bool = True,
                    file_name: str = 'backbone.onnx') -> dict:
    """Export a MogaNet backbone alone (outputs ``stage<i>`` per
    ``out_indices``) to ``out_dir/file_name``, checked with ONNX Runtime.

    Returns:
        dict: ``onnx`` path, ``diffs`` (relative to magnitudes above 1),
        ``tolerances`` and a ``meta`` with ``exporter``/``opset``/``input``.
    """
    backbone = backbone.eval()
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(batch_size, 3, *shape, generator=generator)
    with torch.no_grad():
        outputs = _as_list(backbone(inputs))
    names = [f'stage{i}' for i in getattr(backbone, 'out_indices',
                                          range(len(outputs)))]
    expected = {n: o.numpy() for n, o in zip(names, outputs)}
    axes = {INPUT_NAME: {0: 'batch'}, **{n: {0: 'batch'} for n in names}}
    if dynamic:
        axes[INPUT_NAME].update({2: 'height', 3: 'width'})
    path = osp.join(out_dir, file_name)
    other = torch.randn(batch_size + 1, 3, shape[0] + 32, shape[1] + 64,
                        generator=generator) if dynamic else None
    exporter, diffs = export_checked(backbone, inputs, path, expected, axes,
                                     partial(output_diffs, relative=True),
                                     {}, opset, dynamo,
                                     what=f'backbone export {path}',
                                     other_inputs=other)
    return dict(onnx=path, diffs=diffs, tolerances={}, meta=dict(
        exporter=exporter, opset=opset, input=dict(
            name=INPUT_NAME, shape=[batch_size, 3, *shape],
            dynamic=dynamic)))


def read_export_meta(onnx_path: str) -> dict:
    """The JSON of an export, checked to describe this very ONNX file.

    Raises:
        FileNotFoundError: The ONNX file or its JSON is missing.
        ValueError: The JSON belongs to another export.
    """
    if not osp.isfile(onnx_path):
        raise FileNotFoundError(f'Exported model not found: {onnx_path}')
    path = meta_path(onnx_path)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path} not found: mogavision runs ONNX files together with the '
            'JSON that tools/deployment/export_onnx.py writes beside them '
            '(preprocessing, postprocessing, classes). Re-export with it.')
    with open(path) as f:
        meta = json.load(f)
    missing = {'family', 'options', 'input', 'outputs'} - set(meta)
    if missing:
        raise ValueError(f'{path} is not a mogavision export description '
                         f'(missing {sorted(missing)}).')
    sha = meta.get('onnx_sha256')
    if sha and file_sha256(onnx_path) != sha:
        raise ValueError(
            f'{path} describes another ONNX file than {onnx_path} (SHA-256 '
            'differs): the two come from different exports. Export again '
            'into one directory.')
    return meta


def check_export_fits_config(meta: dict, cfg: Config,
                             where: str = 'the exported model'
                             ) -> ExportFamily:
    """The family of an export rebuilt on ``cfg``, after checking that the
    export was made from a config like ``cfg``: same family, class count,
    normalisation and (for fixed-size tasks) input size.

    Raises:
        ValueError: Naming the mismatch and both values.
    """
    family = get_family(meta['family'])(cfg, **meta['options'])
    if not family.matches(cfg):
        config_family = family_for(cfg).name
        raise ValueError(
            f'{where} is a {meta["family"]!r} export (of '
            f'{meta.get("config")}); this config is {config_family!r}. Use '
            'the config the model was exported from.')
    problems = []
    num_classes = family.num_classes()
    if meta.get('num_classes') != num_classes:
        problems.append(f'num_classes: exported {meta.get("num_classes")}, '
                        f'config {num_classes}')
    pre = preprocess_settings(cfg)
    exported_pre = meta.get('preprocess') or {}
    for key in ('mean', 'std', 'bgr_to_rgb'):
        if key in exported_pre and not _same(exported_pre[key], pre[key]):
            problems.append(f'data_preprocessor {key}: exported '
                            f'{exported_pre[key]}, config {pre[key]}')
    fixed = family.fixed_input_shape()
    shape = tuple(meta['input']['shape'][2:])
    if fixed is not None and not meta['input']['dynamic'] and \
            shape != tuple(fixed):
        problems.append(f'input size: exported {shape[0]}x{shape[1]}, the '
                        f'config\'s test pipeline gives {fixed[0]}x{fixed[1]}')
    problems += family.check_meta(meta)
    if problems:
        raise ValueError(
            f'{where} does not match this config ({meta.get("config")} was '
            'exported): ' + '; '.join(problems) + '. Export again from this '
            'config (tools/deployment/export_onnx.py), or test with the '
            'config it was exported from.')
    return family


def _same(a, b) -> bool:
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return a is not None and b is not None and len(a) == len(b) and \
            all(abs(float(x) - float(y)) < 1e-6 for x, y in zip(a, b))
    return a == b
