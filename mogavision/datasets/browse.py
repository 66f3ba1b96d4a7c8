# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Drawing a dataset as the model sees it: each sample after the config's
pipeline, with its boxes, masks, label map, keypoints or class name, by the
toolbox's own visualizer (``tools/misc/browse_dataset.py``)."""
import os
import os.path as osp
from typing import List, Optional

import numpy as np
from mmengine.config import Config
from mmengine.registry import DATASETS, VISUALIZERS, init_default_scope
from mmengine.utils import ProgressBar

from mogavision.config import task_of
from mogavision.datasets.agreement import check_built_dataset


def build_browsed_dataset(cfg: Config, phase: str):
    """The ``<phase>_dataloader`` dataset, with its pipeline, checked as
    ``tools/train.py`` checks it before the first iteration."""
    loader = cfg.get(f'{phase}_dataloader')
    if not loader:
        raise KeyError(f'The config has no {phase}_dataloader; --phase takes '
                       'train, val or test.')
    init_default_scope(cfg.default_scope)
    dataset_cfg = loader.dataset
    if task_of(cfg) == 'pose':  # draw the transformed keypoints and heatmaps
        dataset_cfg.pipeline[-1]['pack_transformed'] = True
    dataset = DATASETS.build(dataset_cfg)
    check_built_dataset(dataset, phase, cfg)
    return dataset


def _det_sample(data_sample):
    from mmdet.structures.bbox import BaseBoxes
    from mmdet.structures.mask import BitmapMasks, PolygonMasks
    data_sample = data_sample.numpy()
    gt = data_sample.gt_instances
    if isinstance(gt.get('bboxes'), BaseBoxes):
        gt.bboxes = gt.bboxes.tensor
    masks = gt.get('masks')
    if isinstance(masks, (BitmapMasks, PolygonMasks)):
        gt.masks = masks.to_ndarray().astype(bool)
    return data_sample


def draw_sample(visualizer, task: str, item: dict, name: str,
                out_file: str, show: bool = False):
    """Draw one pipeline output (``inputs`` BGR CHW, ``data_samples``) with
    its ground truth."""
    image = np.ascontiguousarray(
        item['inputs'].permute(1, 2, 0).numpy()[..., ::-1])  # BGR -> RGB
    data_sample = item['data_samples']
    if task == 'cls':
        visualizer.visualize_cls(image, data_sample, draw_pred=False,
                                 show=show, out_file=out_file, name=name)
        return
    kwargs = dict(draw_gt=True, draw_pred=False, show=show, out_file=out_file)
    if task == 'det':
        data_sample = _det_sample(data_sample)
    elif task == 'pose':
        kwargs.update(draw_bbox=True, draw_heatmap='heatmaps' in
                      data_sample.get('gt_fields', {}))
    visualizer.add_datasample(name, image, data_sample, **kwargs)


def browse_dataset(cfg: Config, phase: str = 'train',
                   output_dir: Optional[str] = None, num: int = 20,
                   show: bool = False) -> List[str]:
    """Draw the first ``num`` samples of a split after its pipeline.

    Args:
        cfg (Config): The config (tool options applied).
        phase (str): ``train``, ``val`` or ``test``.
        output_dir (str, optional): Where the pictures go; None with
            ``show`` draws on screen only.
        num (int): How many samples.
        show (bool): Show each picture in a window too.

    Returns:
        list[str]: The written files.
    """
    task = task_of(cfg)
    dataset = build_browsed_dataset(cfg, phase)
    visualizer_cfg = dict(cfg.visualizer, name=f'browse_{phase}_{id(cfg)}',
                          vis_backends=[dict(type='LocalVisBackend')])
    visualizer = VISUALIZERS.build(visualizer_cfg)
    if task == 'pose':  # parses the keypoint metainfo (colours, links)
        visualizer.set_dataset_meta(dataset.metainfo)
    else:
        visualizer.dataset_meta = dataset.metainfo
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
    count = min(num, len(dataset))
    written, progress = [], ProgressBar(count)
    for index in range(count):
        item = dataset[index]
        name = osp.basename(item['data_samples'].img_path)
        out_file = osp.join(output_dir, f'{index:04d}_{name}') \
            if output_dir else None
        if out_file and not out_file.lower().endswith(('.jpg', '.jpeg',
                                                       '.png')):
            out_file += '.png'
        draw_sample(visualizer, task, item, name, out_file, show)
        if out_file:
            written.append(out_file)
        progress.update()
    return written
