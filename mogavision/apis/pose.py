# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Top-down pose inference with a mogavision pose config and checkpoint:
person boxes given or detected by an mmdet model, skeletons drawn with
mmpose's visualizer.

Example:
    python -m mogavision.apis.pose \\
        configs/pose/topdown_heatmap_moganet_s_256x192.py CKPT demo.jpg \\
        --bbox 10 20 200 400 --out vis.jpg
"""
import argparse
import os
import os.path as osp
from typing import Optional, Sequence, Union

import mmcv
import numpy as np
from mmengine.config import Config

import mogavision.models  # noqa: F401  (registers MogaNet in mmpose)
from mogavision.checkpoint import load_checked_weights

ImageType = Union[str, np.ndarray]


def init_pose_model(config: Union[str, Config],
                    checkpoint: Optional[str] = None,
                    device: str = 'cpu',
                    cfg_options: Optional[dict] = None):
    """Build a top-down pose estimator in eval mode and load ``checkpoint``.

    The backbone's ImageNet ``init_cfg`` is dropped: the weights come from
    ``checkpoint`` (random without one).

    Args:
        config (str | Config): A pose config (``default_scope='mmpose'``).
        checkpoint (str, optional): A checkpoint saved by ``tools/train.py``,
            an mmpose 0.x one, or ``mogavision://<config name>``; loaded
            and reported as ``tools/test.py`` does.
        device (str): Device to run on. Defaults to 'cpu'.
        cfg_options (dict, optional): Overrides merged into the config.

    Returns:
        nn.Module: The model, with ``cfg`` and ``dataset_meta`` set.
    """
    from mmpose.apis import init_model
    if not isinstance(config, Config):
        config = Config.fromfile(config)
    if cfg_options:
        config.merge_from_dict(cfg_options)
    config.model.backbone.init_cfg = None
    model = init_model(config, None, device='cpu')
    if checkpoint:
        loaded = load_checked_weights(model, checkpoint)
        dataset_meta = (loaded.get('meta') or {}).get('dataset_meta')
        if dataset_meta:  # as mmpose's init_model takes it
            model.dataset_meta = dataset_meta
    return model.to(device).eval()


def init_person_detector(config: Union[str, Config],
                         checkpoint: Optional[str] = None,
                         device: str = 'cpu'):
    """Build an mmdet detector from its config to find the people.

    Args:
        config (str | Config): An mmdet config.
        checkpoint (str, optional): Its checkpoint.
        device (str): Device to run on. Defaults to 'cpu'.

    Returns:
        nn.Module: The detector.
    """
    from mmdet.apis import init_detector
    from mmpose.utils import adapt_mmdet_pipeline
    if not isinstance(config, Config):
        config = Config.fromfile(config)
    return init_detector(adapt_mmdet_pipeline(config), checkpoint,
                         device=device)


def detect_people(detector,
                  img: ImageType,
                  score_thr: float = 0.3,
                  cat_id: int = 0) -> np.ndarray:
    """Person boxes (N, 4) in xyxy found by an mmdet ``detector``.

    Args:
        detector (nn.Module): An mmdet model.
        img (str | np.ndarray): Image path or BGR array.
        score_thr (float): Minimum box score. Defaults to 0.3.
        cat_id (int): The detector's label of a person. Defaults to 0
            (COCO).

    Returns:
        np.ndarray: Boxes, float32, shape (N, 4).
    """
    from mmdet.apis import inference_detector
    pred = inference_detector(detector, img).pred_instances.cpu().numpy()
    keep = (pred.labels == cat_id) & (pred.scores > score_thr)
    return pred.bboxes[keep].reshape(-1, 4).astype(np.float32)


def inference_pose(model,
                   img: ImageType,
                   bboxes: Optional[Sequence[Sequence[float]]] = None,
                   detector=None,
                   det_score_thr: float = 0.3,
                   det_cat_id: int = 0):
    """Estimate the keypoints of every person in ``img``.

    Args:
        model (nn.Module): From :func:`init_pose_model`.
        img (str | np.ndarray): Image path or BGR array.
        bboxes (Sequence, optional): Person boxes, xyxy. Without them (and
            without ``detector``) the whole image is one person.
        detector (nn.Module, optional): mmdet model used when ``bboxes`` is
            None.
        det_score_thr (float): Detector score threshold. Defaults to 0.3.
        det_cat_id (int): Detector label of a person. Defaults to 0.

    Returns:
        PoseDataSample: All people merged; ``pred_instances.keypoints`` has
        shape (N, K, 2).
    """
    from mmpose.apis import inference_topdown
    from mmpose.structures import merge_data_samples
    if bboxes is None and detector is not None:
        bboxes = detect_people(detector, img, det_score_thr, det_cat_id)
    if bboxes is not None:
        bboxes = np.asarray(bboxes, dtype=np.float32).reshape(-1, 4)
    return merge_data_samples(
        inference_topdown(model, img, bboxes, bbox_format='xyxy'))


def draw_pose(model,
              img: ImageType,
              result,
              out_file: str,
              kpt_thr: float = 0.3,
              radius: int = 3,
              thickness: int = 2,
              draw_bbox: bool = True) -> np.ndarray:
    """Draw the skeletons of ``result`` on ``img`` and write ``out_file``.

    Args:
        model (nn.Module): The pose model (for its ``dataset_meta``).
        img (str | np.ndarray): Image path or BGR array.
        result (PoseDataSample): From :func:`inference_pose`.
        out_file (str): Where to write the picture (.jpg/.png).
        kpt_thr (float): Keypoints scoring below are not drawn.
            Defaults to 0.3.
        radius (int): Keypoint radius. Defaults to 3.
        thickness (int): Limb width. Defaults to 2.
        draw_bbox (bool): Draw the person boxes too. Defaults to True.

    Returns:
        np.ndarray: The drawn image, RGB.
    """
    # Built directly, not from the registry, so repeated calls do not share
    # one global visualizer instance.
    from mogavision.visualization import PoseLocalVisualizer
    visualizer = PoseLocalVisualizer(
        name=f'mogavision_pose_{id(result)}', radius=radius,
        line_width=thickness)
    visualizer.set_dataset_meta(model.dataset_meta)
    image = mmcv.imread(img, channel_order='rgb')
    out_dir = osp.dirname(out_file)
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
    visualizer.add_datasample(
        'pose', image, data_sample=result, draw_gt=False, draw_bbox=draw_bbox,
        kpt_thr=kpt_thr, show=False, out_file=out_file)
    return visualizer.get_image()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Draw the poses a MogaNet pose model finds in an image')
    parser.add_argument('config', help='pose config')
    parser.add_argument('checkpoint', help='pose checkpoint')
    parser.add_argument('img', help='input image')
    parser.add_argument('--out', default='pose_vis.jpg', help='output picture')
    parser.add_argument('--bbox', type=float, nargs=4, action='append',
                        metavar=('X1', 'Y1', 'X2', 'Y2'),
                        help='a person box (repeat for several)')
    parser.add_argument('--det-config', help='mmdet config to find people')
    parser.add_argument('--det-checkpoint', help='mmdet checkpoint')
    parser.add_argument('--det-score-thr', type=float, default=0.3)
    parser.add_argument('--kpt-thr', type=float, default=0.3)
    parser.add_argument('--device', default='cpu')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    model = init_pose_model(args.config, args.checkpoint, args.device)
    detector = None
    if args.bbox is None and args.det_config:
        detector = init_person_detector(args.det_config, args.det_checkpoint,
                                        args.device)
    result = inference_pose(model, args.img, args.bbox, detector,
                            args.det_score_thr)
    draw_pose(model, args.img, result, args.out, kpt_thr=args.kpt_thr)
    print(f'{len(result.pred_instances)} people drawn to {args.out}')


if __name__ == '__main__':
    main()
