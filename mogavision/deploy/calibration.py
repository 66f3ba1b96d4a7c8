# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Calibration data for post-training quantization: the graph inputs an
exported model sees at test time, made by the config's own test pipeline
and ``data_preprocessor`` (and the export family's
:meth:`~mogavision.deploy.base.ExportFamily.runtime_inputs`), from a split
of the config's dataset or from a folder of images without annotations.

Images are loaded lazily, one per batch, each time the quantizer iterates
(a few hundred whole-model inputs do not fit in memory at once).
"""
import os
import os.path as osp
from typing import Dict, Iterator, List, Optional

import numpy as np
from mmengine.config import Config

from mogavision.config import leaf_datasets
from .base import ExportFamily, data_preprocessor_cfg, test_pipeline

#: image files a calibration folder may hold
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff',
                    '.webp')
#: calibration images used when the user names no count (NNCF's default
#: subset size); fewer when the source has fewer
DEFAULT_NUM_CALIB = 300
#: the splits a config's dataset can be calibrated on
CALIB_SPLITS = ('train', 'val')


def _without_annotations(pipeline: list) -> list:
    """The test pipeline minus annotation loading (images only), as
    mmseg's ``inference_model`` does."""
    return [step for step in pipeline if not str(
        step.get('type', '')).endswith('LoadAnnotations')]


def describe_dataset(dataset: dict) -> str:
    """``data_root=..., ann_file=..., data_prefix=...`` for messages."""
    keys = ('data_root', 'ann_file', 'data_prefix')
    return ', '.join(f'{k}={dataset.get(k)!r}' for k in keys if k in dataset)


def find_images(directory: str) -> List[str]:
    """Image files under ``directory`` (recursively), sorted.

    Raises:
        FileNotFoundError: ``directory`` is not a directory.
        ValueError: It holds no image.
    """
    if not osp.isdir(directory):
        raise FileNotFoundError(f'--calib-images {directory}: no such '
                                'directory.')
    images = sorted(
        osp.join(root, name) for root, _, names in os.walk(directory)
        for name in names if name.lower().endswith(IMAGE_EXTENSIONS))
    if not images:
        raise ValueError(
            f'--calib-images {directory} holds no images '
            f'({", ".join(IMAGE_EXTENSIONS)}): point it at a folder of '
            'images like the ones the model will see.')
    return images


class CalibrationData:
    """The graph inputs (``{name: array}``, batch 1) of ``count`` images.

    Build it with :meth:`from_split` or :meth:`from_images`; iterate it as
    often as needed (``nncf.Dataset`` does).

    Args:
        family (ExportFamily): The export family (its config and
            ``runtime_inputs``).
        items (list[dict]): Data infos the pipeline takes.
        pipeline (list[dict]): The test pipeline (configs).
        source (str): Where the images come from, for the JSON.
    """

    def __init__(self, family: ExportFamily, items: List[dict],
                 pipeline: list, source: str):
        self.family, self.items, self.source = family, items, source
        self.pipeline_cfg = pipeline
        self._pipeline = self._preprocessor = None
        #: (path, shape with None per dynamic axis) of the graph fed, to
        #: name both sizes when an image does not fit a static export
        self.graph_input = None

    @classmethod
    def from_split(cls, family: ExportFamily, split: str,
                   num: Optional[int] = None,
                   seed: int = 0) -> 'CalibrationData':
        """``num`` images (default :data:`DEFAULT_NUM_CALIB`, fewer when the
        split is smaller) of the config's ``split`` (``train``/``val``),
        spread over the split (a seeded sample, sorted: class-ordered
        splits give every class), through the test pipeline.

        Raises:
            ValueError: Unknown split, or a split without images.
        """
        from mmengine.registry import DATASETS, init_default_scope
        if split not in CALIB_SPLITS:
            raise ValueError(f'calibration split {split!r} is not one of '
                             f'{CALIB_SPLITS}')
        cfg = family.cfg
        loader = cfg.get(f'{split}_dataloader')
        if not loader:
            raise ValueError(
                f'The config has no {split}_dataloader to calibrate on: '
                'pass --calib-split with another split, or --calib-images '
                'DIR.')
        dataset_cfg = dict(next(leaf_datasets(loader['dataset'])))
        dataset_cfg['pipeline'] = []  # data infos only; loaded lazily
        # mmengine's serialisation fails on an empty split with a numpy
        # error; unserialised, an empty split has length 0 (told below)
        dataset_cfg['serialize_data'] = False
        init_default_scope(cfg.get('default_scope', 'mmengine'))
        dataset = DATASETS.build(dataset_cfg)
        source = (f'{split} split ({describe_dataset(dataset_cfg)})')
        if len(dataset) == 0:
            raise ValueError(
                f'The {split} split of the config has no images to '
                f'calibrate on ({describe_dataset(dataset_cfg)}): point '
                f'{split}_dataloader.dataset at data with --cfg-options, or '
                'pass --calib-images DIR.')
        indices = _spread(len(dataset), num, seed)
        items = [dataset.get_data_info(i) for i in indices]
        return cls(family, items, test_pipeline(cfg), source)

    @classmethod
    def from_images(cls, family: ExportFamily, directory: str,
                    num: Optional[int] = None,
                    seed: int = 0) -> 'CalibrationData':
        """``num`` images of a folder (no annotations), through the test
        pipeline without its annotation loading. Top-down pose: each image
        is one person box (the whole image), as the inference API does
        without boxes."""
        images = find_images(directory)
        items = []
        for index in _spread(len(images), num, seed):
            item = dict(img_path=images[index], img_id=index)
            if family.task == 'pose':
                item.update(_whole_image_box(images[index]))
                item.update(family.dataset_meta())
            items.append(item)
        return cls(family, items,
                   _without_annotations(test_pipeline(family.cfg)),
                   f'images in {directory}')

    def __len__(self) -> int:
        return len(self.items)

    def _build(self):
        from mmcv.transforms import Compose
        from mmengine.registry import MODELS, DefaultScope
        import mogavision.models  # noqa: F401  (scopes' registries filled)
        scope = self.family.cfg.get('default_scope', 'mmengine')
        with DefaultScope.overwrite_default_scope(scope):
            self._pipeline = Compose(self.pipeline_cfg)
            self._preprocessor = MODELS.build(
                data_preprocessor_cfg(self.family.cfg)).eval()

    def inputs(self, item: dict) -> Dict[str, np.ndarray]:
        """The graph's inputs (batch 1) for one data info."""
        import copy

        import torch
        from mmengine.dataset import pseudo_collate
        if self._pipeline is None:
            self._build()
        packed = self._pipeline(copy.deepcopy(item))
        with torch.no_grad():
            data = self._preprocessor(pseudo_collate([packed]), False)
        inputs = data['inputs']
        if isinstance(inputs, (list, tuple)):
            inputs = torch.stack(list(inputs))
        self._check_size(inputs.shape, item)
        return self.family.runtime_inputs(
            inputs.float().cpu().numpy(), data['data_samples'])

    def _check_size(self, shape, item: dict):
        if self.graph_input is None:
            return
        path, expected = self.graph_input
        if len(shape) != len(expected) or any(
                e is not None and e != g for e, g in zip(expected, shape)):
            shown = 'x'.join('?' if e is None else str(e) for e in expected)
            raise ValueError(
                f'{path} takes input {shown}; the test pipeline makes '
                f'{"x".join(map(str, shape))} of calibration image '
                f'{item.get("img_path")}. The model was exported for a '
                'fixed size: export with --dynamic (or --shape H W '
                'matching the test pipeline).')

    def __iter__(self) -> Iterator[Dict[str, np.ndarray]]:
        for item in self.items:
            yield self.inputs(item)


def _spread(size: int, num: Optional[int], seed: int) -> List[int]:
    """``min(num, size)`` sorted indices of ``range(size)``, a seeded
    sample (all of them when ``num`` covers the source)."""
    num = DEFAULT_NUM_CALIB if num is None else int(num)
    if num < 1:
        raise ValueError(f'--num-calib must be at least 1, got {num}')
    if num >= size:
        return list(range(size))
    rng = np.random.default_rng(seed)
    return sorted(int(i) for i in rng.choice(size, num, replace=False))


def _whole_image_box(path: str) -> dict:
    from PIL import Image
    with Image.open(path) as image:
        width, height = image.size
    return dict(bbox=np.array([[0, 0, width, height]], np.float32),
                bbox_score=np.ones(1, np.float32))


def same_data(cfg: Config, split: str, other: str = 'test') -> bool:
    """Whether the config's ``split`` and ``other`` loaders read the same
    data (the evaluation would then not be held out)."""
    datasets = []
    for name in (split, other):
        loader = cfg.get(f'{name}_dataloader')
        if not loader:
            return False
        leaf = next(leaf_datasets(loader['dataset']))
        datasets.append({k: leaf.get(k) for k in (
            'type', 'data_root', 'ann_file', 'data_prefix', 'split')})
    return datasets[0] == datasets[1]
