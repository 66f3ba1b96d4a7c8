# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Runtimes for exported models, with explicit precision, and the model
class that puts one behind the toolboxes' APIs.

* :class:`OnnxRuntimeBackend`: ONNX Runtime on CPU (and CUDA where the
  installed onnxruntime has the CUDA provider).
* :class:`OpenVINOBackend`: OpenVINO on CPU. ``fp32`` is asked for
  explicitly (``INFERENCE_PRECISION_HINT=f32``): OpenVINO's default on CPUs
  with bf16 units is bf16. ``bf16``/``fp16`` only when asked, and only where
  the CPU has them: OpenVINO would silently run f32 otherwise.
* :class:`DeployedModel`: an mmengine ``BaseModel`` running the config's
  ``data_preprocessor``, the exported graph and the family's
  postprocessing, so the Runner's test loop, the evaluators, ``--out``
  dumps, visualizers and the toolboxes' inference APIs run on it as on the
  PyTorch model.
"""
import os
from typing import Dict, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.model import BaseModel

from .base import INPUT_NAME, data_preprocessor_cfg
from .export import check_export_fits_config, read_export_meta

PRECISIONS = ('fp32', 'fp16', 'bf16')


class Backend:
    """One exported graph loaded in a runtime; call it on a batch.

    Args:
        path (str): The ONNX file.
        device (str): ``cpu`` (or ``cuda[:i]`` where supported).
        precision (str): ``fp32`` (default), ``fp16`` or ``bf16``.
        threads (int, optional): Intra-op threads (default: the runtime's).
    """

    name = ''

    def __init__(self, path: str, device: str = 'cpu',
                 precision: str = 'fp32', threads: Optional[int] = None):
        if precision not in PRECISIONS:
            raise ValueError(f'precision {precision!r} is not one of '
                             f'{PRECISIONS}')
        self.path, self.device, self.precision = path, device, precision
        self.threads = threads
        #: shape of ``input``, an int per static axis, None per dynamic one
        self.input_shape = None
        self.input_names = [INPUT_NAME]
        self.output_names = []

    def __call__(self, inputs: Union[np.ndarray, Dict[str, np.ndarray]]
                 ) -> Dict[str, np.ndarray]:
        """Outputs by name for the batch ``inputs`` (the ``input`` array,
        or every graph input by name)."""
        feeds = dict(inputs) if isinstance(inputs, dict) else \
            {INPUT_NAME: inputs}
        missing = set(self.input_names) - set(feeds)
        if missing:
            raise ValueError(f'{self.path} takes the inputs '
                             f'{self.input_names}; missing {sorted(missing)}')
        feeds[INPUT_NAME] = np.ascontiguousarray(feeds[INPUT_NAME],
                                                 dtype=np.float32)
        self.check_input(feeds[INPUT_NAME])
        return self.run({n: feeds[n] for n in self.input_names})

    def run(self, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        raise NotImplementedError

    def check_input(self, inputs: np.ndarray):
        """A batch of another size than a static graph's is an error naming
        both sizes, not a wrong answer (or a runtime's cryptic one)."""
        expected = self.input_shape
        if expected is None:
            return
        if inputs.ndim != len(expected) or any(
                e is not None and e != g for e, g in zip(expected,
                                                         inputs.shape)):
            shown = 'x'.join('?' if e is None else str(e) for e in expected)
            raise ValueError(
                f'{self.path} takes input {shown}; this batch is '
                f'{"x".join(map(str, inputs.shape))}. The model was exported '
                'for a fixed size: export with --dynamic (or --shape H W '
                'matching the test pipeline), or make the pipeline give '
                'that size.')


def _axes(shape) -> list:
    return [d if isinstance(d, int) and d > 0 else None for d in shape]


class OnnxRuntimeBackend(Backend):
    """ONNX Runtime session.

    Args:
        graph_optimization (str): ``all`` (default), ``extended``, ``basic``
            or ``disabled`` (ONNX Runtime's GraphOptimizationLevel).
        **kwargs: See :class:`Backend`. ``fp16`` converts the graph's weights
            and compute to float16 (inputs and outputs stay float32), meant
            for CUDA; ``bf16`` is not offered by ONNX Runtime's CPU kernels.
    """

    name = 'onnxruntime'
    LEVELS = ('disabled', 'basic', 'extended', 'all')

    def __init__(self, path: str, device: str = 'cpu',
                 precision: str = 'fp32', threads: Optional[int] = None,
                 graph_optimization: str = 'all'):
        super().__init__(path, device, precision, threads)
        import onnxruntime as ort
        if graph_optimization not in self.LEVELS:
            raise ValueError(f'graph_optimization {graph_optimization!r} is '
                             f'not one of {self.LEVELS}')
        if precision == 'bf16':
            raise ValueError(
                'ONNX Runtime has no bf16 execution for these models; use '
                'precision fp32, or the openvino backend for bf16.')
        options = ort.SessionOptions()
        options.graph_optimization_level = getattr(
            ort.GraphOptimizationLevel,
            'ORT_ENABLE_ALL' if graph_optimization == 'all' else
            'ORT_DISABLE_ALL' if graph_optimization == 'disabled' else
            f'ORT_ENABLE_{graph_optimization.upper()}')
        if threads:
            options.intra_op_num_threads = int(threads)
        if device == 'cpu':
            providers = ['CPUExecutionProvider']
        elif device.startswith('cuda'):
            available = ort.get_available_providers()
            if 'CUDAExecutionProvider' not in available:
                raise RuntimeError(
                    f'device {device!r}: this onnxruntime has the providers '
                    f'{available}, not CUDAExecutionProvider; install '
                    'onnxruntime-gpu (same version) for CUDA.')
            index = int(device.split(':')[1]) if ':' in device else 0
            providers = [('CUDAExecutionProvider', dict(device_id=index)),
                         'CPUExecutionProvider']
        else:
            raise ValueError(f'device {device!r}: onnxruntime runs on cpu or '
                             'cuda[:index]')
        model = path
        if precision == 'fp16':
            model = _float16_graph(path)
        self.session = ort.InferenceSession(model, options,
                                            providers=providers)
        graph_inputs = {i.name: i for i in self.session.get_inputs()}
        if INPUT_NAME not in graph_inputs:
            raise ValueError(f'{path} has no input named {INPUT_NAME!r} (it '
                             f'has {list(graph_inputs)}); it was not written '
                             'by mogavision.deploy.')
        self.input_names = list(graph_inputs)
        self.input_shape = _axes(graph_inputs[INPUT_NAME].shape)
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, feeds):
        values = self.session.run(self.output_names, feeds)
        return dict(zip(self.output_names, values))


def _float16_graph(path: str) -> bytes:
    """The graph with float16 weights and compute, float32 inputs/outputs."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16
    model = convert_float_to_float16(onnx.load(path), keep_io_types=True)
    return model.SerializeToString()


class OpenVINOBackend(Backend):
    """OpenVINO compiled model on CPU.

    Args:
        hint (str): ``latency`` (default: one stream, all threads on each
            request) or ``throughput`` (several streams; a batch is split
            over them).
        streams (int, optional): Number of streams (OpenVINO's choice by
            default for the hint).
        **kwargs: See :class:`Backend`.
    """

    name = 'openvino'
    #: our precision names -> OpenVINO's, and the CPU capability needed
    PRECISION = {'fp32': ('f32', 'FP32'), 'bf16': ('bf16', 'BF16'),
                 'fp16': ('f16', 'FP16')}

    def __init__(self, path: str, device: str = 'cpu',
                 precision: str = 'fp32', threads: Optional[int] = None,
                 hint: str = 'latency', streams: Optional[int] = None):
        super().__init__(path, device, precision, threads)
        import openvino as ov
        if device != 'cpu':
            raise ValueError(f'device {device!r}: the openvino backend runs '
                             'on cpu here')
        if hint not in ('latency', 'throughput'):
            raise ValueError(f"hint {hint!r} is not 'latency' or "
                             "'throughput'")
        core = ov.Core()
        ov_precision, capability = self.PRECISION[precision]
        capabilities = core.get_property('CPU', 'OPTIMIZATION_CAPABILITIES')
        if capability not in capabilities:
            raise RuntimeError(
                f'precision {precision}: this CPU has no {capability} support '
                f'(OpenVINO OPTIMIZATION_CAPABILITIES: {list(capabilities)}); '
                'OpenVINO would run f32 instead. Use precision fp32 here.')
        config = {'INFERENCE_PRECISION_HINT': ov_precision,
                  'PERFORMANCE_HINT': hint.upper()}
        if threads:
            config['INFERENCE_NUM_THREADS'] = int(threads)
        if streams:
            config['NUM_STREAMS'] = int(streams)
        self.compiled = core.compile_model(core.read_model(path), 'CPU',
                                           config)
        # An ov.Type: prints as 'bfloat16' where we (and the hint) say bf16.
        got = self.compiled.get_property('INFERENCE_PRECISION_HINT')
        if got != getattr(ov.Type, ov_precision):
            raise RuntimeError(f'OpenVINO compiled {path} with precision '
                               f'{got}, not the {precision} asked for.')
        self.streams = int(self.compiled.get_property('NUM_STREAMS'))
        graph_inputs = {i.get_any_name(): i for i in self.compiled.inputs}
        if INPUT_NAME not in graph_inputs:
            raise ValueError(f'{path} has no input named {INPUT_NAME!r} (it '
                             f'has {list(graph_inputs)}); it was not written '
                             'by mogavision.deploy.')
        self.input_names = list(graph_inputs)
        self.input_shape = [
            None if d.is_dynamic else d.get_length()
            for d in graph_inputs[INPUT_NAME].get_partial_shape()]
        self.output_names = [o.get_any_name() for o in self.compiled.outputs]
        self.request = self.compiled.create_infer_request()
        self.queue = None

    def run(self, feeds):
        chunks = self._chunks(len(feeds[INPUT_NAME]))
        if len(chunks) == 1:
            results = self.request.infer(feeds)
            return {o.get_any_name(): np.array(v) for o, v in results.items()}
        import openvino as ov
        if self.queue is None:
            self.queue = ov.AsyncInferQueue(self.compiled, self.streams)
        parts = [None] * len(chunks)

        def done(request, index):
            parts[index] = {o.get_any_name(): np.array(request.get_tensor(
                o).data) for o in self.compiled.outputs}

        self.queue.set_callback(done)
        for index, (start, stop) in enumerate(chunks):
            self.queue.start_async(
                {n: v[start:stop] for n, v in feeds.items()}, index)
        self.queue.wait_all()
        # outputs with a per-image dimension (detections) may differ in
        # size between chunks; they are padded by the graph to each chunk's
        # maximum, so only same-shaped outputs are concatenated here
        return {name: _concatenate([p[name] for p in parts])
                for name in self.output_names}

    def _chunks(self, batch: int):
        """Batch slices, one per stream, when the graph's batch is dynamic."""
        if self.streams <= 1 or batch <= 1 or self.input_shape[0] is not None:
            return [(0, batch)]
        size = -(-batch // min(self.streams, batch))
        return [(i, min(i + size, batch)) for i in range(0, batch, size)]


def _concatenate(parts):
    """Batch chunks joined; (N, K, ...) outputs of different K are padded
    with zeros (a score of 0, i.e. no detection) to the largest K."""
    if len({p.shape[1:] for p in parts}) == 1:
        return np.concatenate(parts)
    size = max(p.shape[1] for p in parts)
    return np.concatenate([np.pad(p, [(0, 0), (0, size - p.shape[1])] +
                                  [(0, 0)] * (p.ndim - 2)) for p in parts])


BACKENDS = {'onnxruntime': OnnxRuntimeBackend, 'openvino': OpenVINOBackend}


def build_backend(backend: str, path: str, **kwargs) -> Backend:
    """A :class:`Backend` by name (``onnxruntime`` or ``openvino``)."""
    if backend not in BACKENDS:
        raise ValueError(f'backend {backend!r} is not one of '
                         f'{sorted(BACKENDS)}')
    return BACKENDS[backend](path, **kwargs)


class DeployedModel(BaseModel):
    """An exported model behind the interface of the PyTorch one.

    ``test_step``/``forward(mode='predict')`` run the config's
    ``data_preprocessor``, the graph on the backend and the family's
    postprocessing, returning the toolbox's data samples; ``cfg``,
    ``dataset_meta`` (and mmpretrain's ``_config``/``_dataset_meta``) are
    set as the toolboxes' ``init_*`` functions set them, so
    ``inference_detector``, ``inference_model``, ``inference_topdown``, the
    classification inferencer and the Runner accept it.

    Args:
        cfg (Config): The config the model was exported from (checked
            against the export's JSON).
        model_file (str): ``end2end.onnx`` (its ``end2end.json`` beside it).
        backend (str): ``onnxruntime`` (default) or ``openvino``.
        device (str): Defaults to ``cpu``.
        precision (str): ``fp32`` (default), ``fp16`` or ``bf16``.
        **backend_options: e.g. ``threads``, ``hint``, ``streams``,
            ``graph_optimization``.
    """

    def __init__(self, cfg: Config, model_file: str,
                 backend: str = 'onnxruntime', device: str = 'cpu',
                 precision: str = 'fp32', **backend_options):
        import mogavision.models  # noqa: F401  (MogaNet in every scope)
        from mmengine.registry import MODELS, DefaultScope, init_default_scope
        # as mmdet's init_detector, mmseg's and mmpose's init_model do: the
        # toolbox inference APIs build their pipelines in the current scope
        init_default_scope(cfg.get('default_scope', 'mmengine'))
        meta = read_export_meta(model_file)
        family = check_export_fits_config(meta, cfg, where=model_file)
        with DefaultScope.overwrite_default_scope(cfg.default_scope):
            preprocessor = MODELS.build(data_preprocessor_cfg(cfg))
        super().__init__(data_preprocessor=preprocessor)
        self.backend = build_backend(backend, model_file, device=device,
                                     precision=precision, **backend_options)
        missing = set(meta['outputs']) - set(self.backend.output_names)
        if missing:
            raise ValueError(f'{model_file} lacks the outputs '
                             f'{sorted(missing)} its JSON names (has '
                             f'{self.backend.output_names}).')
        self.family, self.meta, self.cfg = family, meta, cfg
        self.model_file = model_file
        self.dataset_meta = family.dataset_meta()
        # mmpretrain's inferencer reads these two
        self._config, self._dataset_meta = cfg, self.dataset_meta

    def forward(self, inputs: torch.Tensor,
                data_samples: Optional[list] = None, mode: str = 'predict'):
        if mode != 'predict':
            raise RuntimeError(
                f'{self.model_file} is an exported model: it predicts only '
                f'(mode={mode!r} asked). Train and compute losses with the '
                'PyTorch model.')
        if isinstance(inputs, (list, tuple)):
            inputs = torch.stack(list(inputs))
        feeds = self.family.runtime_inputs(
            inputs.detach().float().cpu().numpy(), data_samples)
        return self.family.to_data_samples(self.backend(feeds), data_samples)

    def __repr__(self):
        return (f'DeployedModel({self.model_file}, family={self.family.name}, '
                f'backend={self.backend.name}, precision='
                f'{self.backend.precision})')


def init_deployed_model(config: Union[str, Config], model_file: str,
                        backend: str = 'onnxruntime', device: str = 'cpu',
                        precision: str = 'fp32',
                        cfg_options: Optional[dict] = None,
                        **backend_options) -> DeployedModel:
    """:class:`DeployedModel` from a config file (with overrides)."""
    import mogavision.models  # noqa: F401  (registers MogaNet in scopes)
    cfg = Config.fromfile(config) if isinstance(config, str) else \
        config.copy()
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return DeployedModel(cfg, model_file, backend, device, precision,
                         **backend_options)


def inference_deployed(model: DeployedModel,
                       image: Union[str, np.ndarray],
                       bboxes: Optional[Sequence[Sequence[float]]] = None):
    """Run one image (path or BGR array) through the config's test pipeline
    and the exported model with the toolbox's own inference API.

    Args:
        model (DeployedModel): The model.
        image (str | np.ndarray): The image.
        bboxes (Sequence, optional): Pose only: person boxes (xyxy), the
            whole image without.

    Returns:
        The toolbox's data sample: ``DataSample`` (cls), ``DetDataSample``,
        ``SegDataSample`` or a merged ``PoseDataSample``.
    """
    if isinstance(image, str) and not os.path.isfile(image):
        raise FileNotFoundError(f'Image not found: {image}')
    task = model.family.task
    if task == 'cls':
        from mmengine.registry import DefaultScope
        from mmpretrain.apis import ImageClassificationInferencer
        with DefaultScope.overwrite_default_scope(model.cfg.default_scope):
            inferencer = ImageClassificationInferencer(model=model,
                                                       pretrained=False)
            return inferencer(image, return_datasamples=True)[0]
    if task == 'det':
        from mmdet.apis import inference_detector
        return inference_detector(model, image)
    if task == 'seg':
        from mmseg.apis import inference_model
        return inference_model(model, image)
    from mogavision.apis import inference_pose
    return inference_pose(model, image, bboxes)
