# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Configs, models and images for the visual analysis tools: ``pkg::``
config names, the build-time checks of ``tools/train.py``, and images run
through the config's test pipeline and the model's data preprocessor."""
import copy
import hashlib
import json
import os
import os.path as osp
from types import SimpleNamespace
from typing import List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mogavision.config import (load_model, resolve_config, split_datasets,
                               task_of)
from mogavision.engine.runtime import (apply_common_options,
                                       check_checkpoint_source)

#: File endings the tools read as images (compared in lower case).
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff',
                    '.webp')


def load_analysis_model(config: str,
                        checkpoint: Optional[str] = None,
                        cfg_options: Optional[dict] = None,
                        device: str = 'cpu',
                        classifier_for: Optional[str] = None
                        ) -> Tuple[Config, nn.Module]:
    """Read a config (path or ``pkg::`` name), run the checks of
    ``tools/train.py`` on it and build its model in eval mode on
    ``device``, with ``checkpoint`` loaded if given.

    Args:
        config (str): Config path or ``pkg::`` name.
        checkpoint (str, optional): Weights of the whole model.
        cfg_options (dict, optional): ``--cfg-options`` overrides.
        device (str): Device. Defaults to 'cpu'.
        classifier_for (str, optional): The tool's name, when it needs an
            image classifier: anything else is an error naming the config.

    Returns:
        tuple: ``(cfg, model)``.
    """
    path = resolve_config(config)
    if checkpoint:
        checkpoint = check_checkpoint_source(checkpoint)
    cfg = apply_common_options(Config.fromfile(path), SimpleNamespace(
        config=path, cfg_options=cfg_options))
    if classifier_for is not None:
        task = task_of(cfg)
        if task != 'cls':
            raise ValueError(
                f'{config} is a {task} config (default_scope='
                f'{cfg.default_scope!r}); {classifier_for} needs an image '
                'classifier config (mmpretrain), e.g. '
                'configs/cls/moganet_t_224.py or '
                'mmpretrain::resnet/resnet50_8xb32_in1k.py.')
    model = load_model(cfg, checkpoint)
    if classifier_for is not None and not getattr(model, 'with_head', False):
        raise ValueError(
            f'{config} builds a {type(model).__name__} without a '
            f'classification head; {classifier_for} needs class logits.')
    return cfg, model.to(device)


def model_fingerprint(cfg: Config, checkpoint: Optional[str]) -> dict:
    """What decides a model's outputs: a hash of its model, preprocessor
    and test-pipeline settings, and one of the checkpoint file."""
    settings = dict(model=cfg.model.to_dict() if hasattr(cfg.model, 'to_dict')
                    else cfg.model, pipeline=pipeline_steps(cfg),
                    data_preprocessor=cfg.get('data_preprocessor'))
    text = json.dumps(settings, sort_keys=True, default=str)
    fingerprint = dict(model=hashlib.sha256(text.encode()).hexdigest()[:16],
                       checkpoint=None)
    if checkpoint:
        digest = hashlib.sha256()
        with open(checkpoint, 'rb') as f:
            for chunk in iter(lambda: f.read(1 << 20), b''):
                digest.update(chunk)
        fingerprint['checkpoint'] = digest.hexdigest()[:16]
    return fingerprint


def list_images(folder: str, limit: Optional[int] = None) -> List[str]:
    """Image files under ``folder`` (recursively), as sorted paths relative
    to it; at most ``limit`` of them. No image is an error naming the
    folder."""
    if not osp.isdir(folder):
        raise FileNotFoundError(f'Image folder not found: {folder}')
    found = []
    for root, _, files in os.walk(folder):
        for name in files:
            if name.lower().endswith(IMAGE_EXTENSIONS):
                found.append(osp.relpath(osp.join(root, name), folder))
    if not found:
        raise FileNotFoundError(
            f'No images in {folder} (looked for files ending in '
            f'{", ".join(IMAGE_EXTENSIONS)}, in subfolders too).')
    found.sort()
    return found[:limit] if limit else found


def read_labels(ann_file: str, images: List[str]) -> dict:
    """Class labels from an mmpretrain-style list (``<path> <label>`` per
    line, paths relative to the image folder); every image must be listed."""
    labels = {}
    with open(ann_file) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.rsplit(maxsplit=1)
            if len(parts) != 2 or not parts[1].lstrip('-').isdigit():
                raise ValueError(f'{ann_file}:{number}: expected "<image> '
                                 f'<label>", got {line.strip()!r}')
            labels[osp.normpath(parts[0])] = int(parts[1])
    missing = [i for i in images if osp.normpath(i) not in labels]
    if missing:
        raise KeyError(f'{len(missing)} images are not listed in {ann_file}, '
                       f'e.g. {missing[:3]}')
    return {i: labels[osp.normpath(i)] for i in images}


def pipeline_steps(cfg: Config) -> list:
    """The config's test pipeline steps, without annotation loading (the
    analysis tools read bare images)."""
    dataset = next(split_datasets(cfg, 'test'),
                   next(split_datasets(cfg, 'val'), {}))
    pipeline = dataset.get('pipeline') or cfg.get('test_pipeline')
    if not pipeline:
        raise KeyError('The config has no test_dataloader.dataset.pipeline '
                       '(nor test_pipeline) to prepare images with.')
    return [copy.deepcopy(dict(step)) for step in pipeline
            if 'LoadAnnotations' not in str(step.get('type'))]


class ImageInputs:
    """Images as the model sees them at test time: the config's test
    pipeline, then the model's data preprocessor (normalisation, channel
    order, padding).

    Args:
        cfg (Config): The config.
        model (nn.Module): Its model (with ``data_preprocessor``).
    """

    def __init__(self, cfg: Config, model: nn.Module):
        from mmengine.dataset import Compose
        self.scope = cfg.get('default_scope')
        self.task = task_of(cfg)
        self.model = model
        with DefaultScope.overwrite_default_scope(self.scope):
            self.pipeline = Compose(pipeline_steps(cfg))

    def __call__(self, path: str):
        """Returns ``(inputs, data_sample, image)``: the normalised
        ``(1, C, H, W)`` tensor on the model's device, its data sample, and
        the pipeline's image as RGB uint8 ``(H, W, 3)`` (for overlays)."""
        info = dict(img_path=path)
        if self.task == 'pose':
            import mmcv
            height, width = mmcv.imread(path).shape[:2]
            # Top-down pose models read a person box: the whole image.
            info.update(bbox=np.array([[0, 0, width, height]], np.float32),
                        bbox_score=np.ones(1, np.float32))
        with DefaultScope.overwrite_default_scope(self.scope):
            data = self.pipeline(info)
        image = data['inputs']
        with torch.no_grad():
            batch = self.model.data_preprocessor(
                dict(inputs=[image], data_samples=[data['data_samples']]),
                False)
        display = image.permute(1, 2, 0).numpy()
        if display.shape[2] == 3:  # the loaders give BGR
            display = display[..., ::-1]
        return batch['inputs'], batch['data_samples'][0], \
            np.ascontiguousarray(display).astype(np.uint8)
