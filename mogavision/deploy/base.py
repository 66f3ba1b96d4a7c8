# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Export families: what turns one kind of config into an ONNX graph and its
runtime outputs back into the toolbox's data samples.

Contract (the detection, segmentation, pose and classification families
implement it; the exporter, the runtime wrapper and the tools use only it):

* A family is a subclass of :class:`ExportFamily` registered with
  :func:`register_family` under a unique ``name``; :data:`FAMILY_MODULES`
  says which module defines each name, so a module is imported only when a
  config needs it. :func:`family_for` picks the family of a config (the
  first whose :meth:`ExportFamily.matches` is true) and names every
  supported family when none matches.
* The graph's first input is always ``input``: the batch the config's
  ``data_preprocessor`` produces in test mode (normalised, colour order
  converted, padded), float32 (N, 3, H, W). Preprocessing (loading, the test
  pipeline's resize, normalisation, padding) stays outside the graph, done by
  the toolbox's own code; :meth:`ExportFamily.meta` records it for other
  consumers. A family may take more inputs (:attr:`ExportFamily.input_names`,
  e.g. detection's ``img_shape``): :meth:`ExportFamily.example_inputs` then
  returns a tuple in that order (``export_module``'s ``forward`` takes them
  positionally) and :meth:`ExportFamily.runtime_inputs` builds them from the
  batch and its data samples; the runtimes feed every name.
* :attr:`ExportFamily.custom_translation_table` (default empty) is passed to
  ``torch.onnx.export(..., dynamo=True, custom_translation_table=...)`` for
  the family's custom ops.
* The graph's outputs are named :attr:`ExportFamily.output_names`, following
  mmdeploy's ONNX Runtime conventions (detection ``dets`` (N, K, 5: x1 y1 x2
  y2 score) + ``labels`` (N, K) [+ ``masks`` (N, K, Hm, Wm)];
  segmentation ``output``: (N, C, H, W) logits, or (N, 1, H, W) int64
  class map with an option; pose ``output``: (N, K, h, w) heatmaps (flip test
  inside when the config's test_cfg asks for it); classification
  ``output``: (N, C) softmax scores). Boxes, maps and keypoints
  are in the coordinates of ``input``; :meth:`ExportFamily.to_data_samples`
  rescales them to the original image as the toolbox's postprocessing does.
* :meth:`ExportFamily.to_data_samples` receives the runtime's outputs as
  ``{name: np.ndarray}`` (the whole batch) and the data samples the
  ``data_preprocessor`` returned (their metainfo: ``img_shape``,
  ``ori_shape``, ``scale_factor``, ``batch_input_shape``, ``pad_shape``...);
  it fills and returns them as the PyTorch model's ``predict`` would
  (``pred_instances`` / ``pred_sem_seg`` + ``seg_logits`` / pose
  ``pred_instances`` / ``pred_score`` + ``pred_label``) so that evaluators,
  ``--out`` dumps and visualizers work unchanged.
* Options: a family declares its export options with their defaults in
  :attr:`ExportFamily.default_options` (e.g. ``logits=True``); the
  exporter passes the user's values as keyword arguments, they are stored in
  the JSON (``options``) and the same family is rebuilt with them at load
  time. An unknown option is a ``ValueError`` naming the known ones.
* :meth:`ExportFamily.export_module` returns a module that keeps the
  toolbox model as its attribute ``model`` (the benchmark folds and compiles
  ``model.backbone``/``model.neck`` inside it).
* Sizes: :meth:`ExportFamily.default_shape` is the (H, W) exported without
  ``--shape``; :meth:`ExportFamily.fixed_input_shape` the size every test
  batch of the config has (classification crop, pose input size), None where
  it varies (keep-ratio resizes). A static export used on batches of another
  size is an error naming both sizes, never a wrong answer.
* :attr:`ExportFamily.dynamo` False means the family's graph needs torch's
  legacy TorchScript exporter (say why in the family's docstring); otherwise
  ``torch.onnx.export(..., dynamo=True)`` is used and the legacy exporter is
  only the documented fallback when it fails (recorded in the JSON as
  ``exporter``).

This docstring is the contract's one record: a change to the contract is
made in every family, the exporter, the runtime wrapper and the tools
together, and written here.
"""
import importlib
from typing import Dict, List, Optional, Sequence, Tuple, Type

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config

from mogavision.config import (built_metainfo, dataset_class, dicts_in,
                               replace_sync_bn, split_datasets)
from .compare import output_diffs

#: family name -> module that defines (and registers) it
FAMILY_MODULES = {
    'cls': 'mogavision.deploy.classification',
    'retinanet': 'mogavision.deploy.detection',
    'mask_rcnn': 'mogavision.deploy.detection',
    'cascade_mask_rcnn': 'mogavision.deploy.detection',
    'encoder_decoder': 'mogavision.deploy.segmentation',
    'topdown_heatmap': 'mogavision.deploy.pose',
}

#: family name -> class, filled by :func:`register_family`
FAMILIES: Dict[str, Type['ExportFamily']] = {}

#: the graph's input name
INPUT_NAME = 'input'
#: accepted max |ONNX Runtime - PyTorch| of an output after export
DEFAULT_TOLERANCE = 1e-4


def register_family(cls: Type['ExportFamily']) -> Type['ExportFamily']:
    """Class decorator: make ``cls`` the family called ``cls.name``."""
    if not cls.name or cls.name not in FAMILY_MODULES:
        raise KeyError(f'Export family {cls.__name__} has name {cls.name!r}; '
                       f'add it to FAMILY_MODULES in {__name__} '
                       f'(known: {sorted(FAMILY_MODULES)}).')
    FAMILIES[cls.name] = cls
    return cls


#: family module -> why it could not be imported (a missing module)
UNAVAILABLE: Dict[str, str] = {}


def _import_families(names: Sequence[str] = ()):
    """Import the modules of ``names`` (default: all). When importing all,
    a module that is absent (or whose toolbox is not installed) is recorded
    in :data:`UNAVAILABLE` instead of failing every other family."""
    for module in dict.fromkeys(FAMILY_MODULES[n] for n in
                                (names or FAMILY_MODULES)):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            if names or error.name not in (module, 'mmdet', 'mmseg',
                                           'mmpose', 'mmpretrain'):
                raise
            UNAVAILABLE[module] = f'{error.name} not importable'


def supported_families() -> str:
    """One line per family: name and what it exports, for error messages."""
    _import_families()
    return '\n'.join(
        f'  {name}: {FAMILIES[name].description}' if name in FAMILIES else
        f'  {name}: unavailable here ({UNAVAILABLE.get(module, "?")})'
        for name, module in FAMILY_MODULES.items())


def get_family(name: str) -> Type['ExportFamily']:
    """The family class called ``name`` (as written in an export's JSON)."""
    if name not in FAMILY_MODULES:
        raise ValueError(f'Unknown export family {name!r}; supported:\n'
                         f'{supported_families()}')
    _import_families([name])
    return FAMILIES[name]


def family_for(cfg: Config, **options) -> 'ExportFamily':
    """The family that exports ``cfg``'s model, built with ``options``.

    Raises:
        ValueError: No family matches; the message lists the supported ones
            and what the config's model is.
    """
    _import_families()
    for name in FAMILY_MODULES:
        family = FAMILIES.get(name)
        if family is not None and family.matches(cfg):
            return family(cfg, **options)
    raise ValueError(
        f'No export family for this config\'s model ({describe_model(cfg)}). '
        f'Supported:\n{supported_families()}')


def describe_model(cfg: Config) -> str:
    """``type=..., head types`` of a config's model, for messages."""
    model = cfg.get('model', {})
    parts = [f"type={model.get('type')!r}"]
    for key in ('neck', 'decode_head', 'head', 'bbox_head', 'roi_head'):
        part = model.get(key)
        if isinstance(part, dict):
            parts.append(f"{key}={part.get('type')!r}")
    return ', '.join(parts)


def model_type(cfg: Config, key: Optional[str] = None) -> str:
    """The registry type (scope prefix dropped) of ``cfg.model`` or of its
    sub-config ``key`` (e.g. ``'decode_head'``); '' when absent."""
    node = cfg.get('model', {})
    if key is not None:
        node = node.get(key) or {}
    return str(node.get('type', '')).split('.')[-1]


class ExportFamily:
    """One kind of model that exports to ONNX whole.

    Subclasses set :attr:`name`, :attr:`task`, :attr:`description` and
    implement :meth:`matches`, :attr:`output_names`, :meth:`export_module`
    and :meth:`to_data_samples`. Defaults that fit most: :meth:`meta`,
    :meth:`check_meta`, :meth:`dynamic_axes`, :meth:`example_inputs`,
    :meth:`default_shape`, :meth:`fixed_input_shape`, :meth:`num_classes`,
    :meth:`dataset_meta`, :meth:`compare_outputs`; :meth:`postprocessor`
    gives the toolbox model without weights for its postprocessing code.

    Args:
        cfg (Config): The (merged) config of the model.
        **options: Export options, keys of :attr:`default_options`.
    """

    #: registry key, written to the JSON as ``family``
    name: str = ''
    #: ``cls`` | ``det`` | ``seg`` | ``pose`` (see ``task_of``)
    task: str = ''
    #: one line for the list of supported families
    description: str = ''
    #: export options and their defaults
    default_options: Dict[str, object] = {}
    #: False: needs the legacy TorchScript exporter
    dynamo: bool = True
    #: largest value of :meth:`compare_outputs` accepted per output name by
    #: the export check (names not listed: :data:`DEFAULT_TOLERANCE`)
    tolerances: Dict[str, float] = {}

    def __init__(self, cfg: Config, **options):
        unknown = set(options) - set(self.default_options)
        if unknown:
            raise ValueError(
                f'Unknown option(s) {sorted(unknown)} for export family '
                f'{self.name!r}; it takes '
                f'{sorted(self.default_options) or "none"}.')
        self.cfg = cfg
        self.options = {**self.default_options, **options}

    @classmethod
    def matches(cls, cfg: Config) -> bool:
        """Whether this family exports ``cfg``'s model."""
        raise NotImplementedError

    @property
    def input_names(self) -> List[str]:
        """Names of the graph's inputs, ``input`` first."""
        return [INPUT_NAME]

    @property
    def output_names(self) -> List[str]:
        """Names of the graph's outputs, in order (options may change them)."""
        raise NotImplementedError

    @property
    def custom_translation_table(self) -> dict:
        """ONNX translations of the family's custom ops (dynamo exporter)."""
        return {}

    def runtime_inputs(self, inputs: np.ndarray,
                       data_samples: Optional[list]) -> Dict[str, np.ndarray]:
        """The graph's inputs for the preprocessed batch ``inputs`` and its
        data samples, by name."""
        return {INPUT_NAME: inputs}

    def export_module(self, model: nn.Module,
                      shape: Tuple[int, int]) -> nn.Module:
        """A module whose ``forward(input)`` returns the outputs (a tensor or
        tuple of tensors in :attr:`output_names` order) for the batch
        ``input`` (N, 3, H, W); ``shape`` is the (H, W) exported at (the
        example size for dynamic exports). ``model`` is the toolbox model in
        eval mode, weights loaded (and possibly folded)."""
        raise NotImplementedError

    def to_data_samples(self, outputs: Dict[str, np.ndarray],
                        data_samples: list) -> list:
        """Fill ``data_samples`` with the predictions in ``outputs`` as the
        toolbox's ``predict`` does (rescaled to each original image) and
        return them."""
        raise NotImplementedError

    def dynamic_axes(self, dynamic: bool) -> Dict[str, Dict[int, str]]:
        """Legacy-style dynamic axes of the input and outputs: batch always;
        with ``dynamic`` also the input's height and width (override for
        outputs whose size follows them)."""
        axes = {name: {0: 'batch'} for name in self.input_names}
        if dynamic:
            axes[INPUT_NAME].update({2: 'height', 3: 'width'})
        for name in self.output_names:
            axes[name] = {0: 'batch'}
        return axes

    def example_inputs(self, shape: Tuple[int, int], batch_size: int = 1):
        """The tensor traced at export and compared after it (standard
        normal noise, about what normalisation gives); a tuple in
        :attr:`input_names` order for families with more inputs."""
        generator = torch.Generator().manual_seed(0)
        return torch.randn(batch_size, 3, *shape, generator=generator)

    def default_shape(self) -> Tuple[int, int]:
        """(H, W) exported without ``--shape``: the config's fixed test size,
        else the test pipeline's resize scale (long side across) rounded up
        to the pad divisor."""
        fixed = self.fixed_input_shape()
        if fixed is not None:
            return fixed
        divisor = preprocess_settings(self.cfg)['pad_size_divisor'] or 1
        for step in test_pipeline(self.cfg):
            scale = step.get('scale') if isinstance(step, dict) else None
            if scale is not None and 'Resize' in str(step.get('type')):
                if isinstance(scale, int):
                    scale = (scale, scale)
                h, w = (min(scale), max(scale)) if step.get('keep_ratio') \
                    else (scale[1], scale[0])
                return _round_up(h, divisor), _round_up(w, divisor)
        raise ValueError(
            'Cannot tell the export size from the test pipeline of this '
            'config (no Resize with a scale); pass --shape H W.')

    def fixed_input_shape(self) -> Optional[Tuple[int, int]]:
        """(H, W) of every test batch of the config, None where it varies."""
        return None

    def dataset_meta(self) -> dict:
        """The test dataset's metainfo (``classes``, palette, ...), as the
        Runner gives it to evaluators and visualizers."""
        dataset = next(split_datasets(self.cfg, 'test'))
        if dataset_class(self.cfg, dataset) is None:
            raise KeyError(f'test_dataloader.dataset.type='
                           f'{dataset["type"]!r} is not a registered '
                           f'dataset of {self.cfg.default_scope}.')
        return built_metainfo(self.cfg, dataset)

    def postprocessor(self) -> nn.Module:
        """The config's toolbox model built on the ``meta`` device: no
        weights, no memory, no computation; its postprocessing methods (e.g.
        mmseg's ``postprocess_result``, mmpose's ``head.decode`` and
        ``add_pred_to_datasample``) run the toolbox's own code on the
        runtime's outputs. Built once."""
        if getattr(self, '_postprocessor', None) is None:
            import mogavision.models  # noqa: F401  (MogaNet in every scope)
            from mmengine.registry import MODELS, DefaultScope
            model_cfg = self.cfg.model.copy()
            replace_sync_bn(model_cfg)
            _drop_init_cfgs(model_cfg)
            scope = self.cfg.default_scope
            with DefaultScope.overwrite_default_scope(scope), \
                    torch.device('meta'):
                self._postprocessor = MODELS.build(model_cfg).eval()
        return self._postprocessor

    def num_classes(self) -> Optional[int]:
        """Classes the config's model predicts (first ``num_classes`` of the
        model config; pose: keypoints), None when it has none."""
        for node in dicts_in(self.cfg.model):
            if isinstance(node.get('num_classes'), int):
                return node['num_classes']
        return None

    def meta(self, model: nn.Module, shape: Tuple[int, int]) -> dict:
        """Family-specific entries of the export's JSON (merged into the
        common ones that :func:`mogavision.deploy.export.export_meta`
        writes: preprocessing, classes, input, outputs, ...), e.g.
        ``{'postprocess': {...}}``. Values must be JSON-serialisable."""
        return {}

    def check_meta(self, meta: dict) -> List[str]:
        """Family-specific ways an export (its JSON ``meta``) does not fit
        this config, one readable line each (e.g. another flip test or
        score threshold baked in); [] when it fits. The common checks
        (family, class count, normalisation, fixed input size) are done by
        :func:`mogavision.deploy.export.check_export_fits_config`."""
        return []

    def compare_outputs(self, expected: Dict[str, np.ndarray],
                        actual: Dict[str, np.ndarray]) -> Dict[str, float]:
        """Max |difference| per output between PyTorch (``expected``) and a
        runtime (``actual``), for the export check. Override when outputs
        are not comparable element-wise (e.g. a different number of
        detections near the score threshold)."""
        return output_diffs(expected, actual)


def _round_up(value: int, divisor: int) -> int:
    return -(-int(value) // divisor) * divisor


def _drop_init_cfgs(node):
    """No pretrained downloads when a model is only built for its code."""
    for part in dicts_in(node):
        part.pop('init_cfg', None)
        if 'pretrained' in part:
            part['pretrained'] = None


def test_pipeline(cfg: Config) -> list:
    """The test dataloader's pipeline (wrappers unwrapped)."""
    dataset = next(split_datasets(cfg, 'test'), {})
    return list(dataset.get('pipeline') or cfg.get('test_pipeline') or [])


#: the data preprocessor a model builds when its config names none
DEFAULT_PREPROCESSORS = {'mmpretrain': 'mmpretrain.ClsDataPreprocessor'}


def data_preprocessor_cfg(cfg: Config) -> dict:
    """The config of the model's data preprocessor as the Runner builds it:
    ``model.data_preprocessor``, else the top-level ``data_preprocessor``
    (mmpretrain's configs), with the toolbox's default type."""
    pre = dict(cfg.model.get('data_preprocessor') or
               cfg.get('data_preprocessor') or {})
    if 'type' not in pre:
        scope = cfg.get('default_scope')
        if scope not in DEFAULT_PREPROCESSORS:
            raise KeyError(f'The config names no data_preprocessor type '
                           f'(model.data_preprocessor.type) for {scope}.')
        pre['type'] = DEFAULT_PREPROCESSORS[scope]
    return pre


def preprocess_settings(cfg: Config) -> dict:
    """What the config's ``data_preprocessor`` does in test mode: mean, std,
    colour conversion, padding (the JSON's ``preprocess``)."""
    pre = data_preprocessor_cfg(cfg)
    test_cfg = pre.get('test_cfg') or {}
    if str(pre.get('type')).endswith('SegDataPreProcessor'):
        # mmseg pads test batches only as its test_cfg says
        divisor = test_cfg.get('size_divisor')
    else:
        divisor = pre.get('pad_size_divisor')
    return dict(
        type=pre.get('type'),
        mean=[float(v) for v in pre['mean']] if pre.get('mean') else None,
        std=[float(v) for v in pre['std']] if pre.get('std') else None,
        bgr_to_rgb=bool(pre.get('bgr_to_rgb', pre.get('to_rgb', False))),
        rgb_to_bgr=bool(pre.get('rgb_to_bgr', False)),
        pad_size_divisor=divisor,
        pad_value=test_cfg.get('pad_val', pre.get('pad_value',
                                                  pre.get('pad_val', 0))),
    )
