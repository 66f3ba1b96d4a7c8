# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Run a config (and checkpoint) on one image with its toolbox's own
inference API and write the visualised result: top-5 labels, boxes and
masks, a segmentation overlay or skeletons.

Example:
    python tools/demo/image_demo.py demo.jpg configs/det/mask_rcnn_moganet_s.py \
        CKPT --out-file out.png
    python tools/demo/image_demo.py demo.jpg CONFIG onnx/end2end.onnx --backend openvino
"""
import argparse
import os
import os.path as osp

import mogavision  # noqa: F401
import mogavision.models  # noqa: F401
import mmcv
from mmengine.config import Config, DictAction

from mogavision.config import replace_sync_bn, task_of
from mogavision.engine.runtime import apply_common_options


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Visualise one prediction')
    parser.add_argument('image')
    parser.add_argument('config')
    parser.add_argument('checkpoint', nargs='?',
                        help='weights (random weights without one), or an '
                        'exported DIR/end2end.onnx')
    parser.add_argument('--backend', default='onnxruntime',
                        choices=['onnxruntime', 'openvino'],
                        help='runtime of an exported .onnx checkpoint')
    parser.add_argument('--out-file', default='demo_out.png')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='boxes / keypoints below are not drawn')
    parser.add_argument('--bbox', type=float, nargs=4, action='append',
                        metavar=('X1', 'Y1', 'X2', 'Y2'),
                        help='pose: a person box (default: the whole image)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def load_config(args) -> Config:
    cfg = apply_common_options(Config.fromfile(args.config), args)
    cfg.model.backbone.init_cfg = None  # weights come from the checkpoint
    if not args.device.startswith('cuda'):
        replace_sync_bn(cfg.model)
    if args.checkpoint and not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'Checkpoint not found: {args.checkpoint}')
    if not osp.isfile(args.image):
        raise FileNotFoundError(f'Image not found: {args.image}')
    return cfg


def exported_model(cfg, args):
    """The exported model (mogavision.deploy) when CHECKPOINT is an .onnx
    file, else None: the toolbox APIs below run it like the PyTorch one."""
    if not (args.checkpoint or '').endswith('.onnx'):
        return None
    from mogavision.deploy.backends import DeployedModel
    return DeployedModel(cfg, args.checkpoint, backend=args.backend)


def demo_cls(cfg, args):
    import torch
    from mmengine.registry import DefaultScope
    from mmpretrain.apis import ImageClassificationInferencer
    from mmpretrain.visualization import UniversalVisualizer
    deployed = exported_model(cfg, args)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        inferencer = ImageClassificationInferencer(
            model=deployed or cfg, device=args.device,
            pretrained=False if deployed else args.checkpoint or False)
    sample = inferencer(args.image, return_datasamples=True)[0]
    top5 = torch.argsort(sample.pred_score, descending=True)[:5]
    sample.set_pred_label(top5)
    classes = inferencer.classes
    for rank, i in enumerate(top5.tolist()):
        name = classes[i] if classes is not None and i < len(classes) else i
        print(f'top-{rank + 1}: {name} ({sample.pred_score[i]:.4f})')
    UniversalVisualizer().visualize_cls(
        mmcv.imread(args.image, channel_order='rgb'), sample, classes=classes,
        draw_gt=False, out_file=args.out_file)


def demo_det(cfg, args):
    from mmdet.apis import inference_detector, init_detector
    from mmdet.registry import VISUALIZERS
    model = exported_model(cfg, args) or init_detector(
        cfg, args.checkpoint, device=args.device)
    result = inference_detector(model, args.image)
    visualizer = VISUALIZERS.build(model.cfg.visualizer)
    visualizer.dataset_meta = model.dataset_meta
    visualizer.add_datasample(
        'result', mmcv.imread(args.image, channel_order='rgb'),
        data_sample=result, draw_gt=False, show=False,
        pred_score_thr=args.score_thr, out_file=args.out_file)
    kept = (result.pred_instances.scores >= args.score_thr).sum().item()
    print(f'{kept} objects above score {args.score_thr}')


def demo_seg(cfg, args):
    from mmseg.apis import inference_model, init_model, show_result_pyplot
    from mmseg.registry import DATASETS
    model = exported_model(cfg, args) or init_model(
        cfg, args.checkpoint, device=args.device)
    if getattr(model, 'dataset_meta', None) is None:  # no checkpoint meta
        dataset = DATASETS.get(cfg.test_dataloader.dataset.type)
        model.dataset_meta = dict(dataset.METAINFO)
    result = inference_model(model, args.image)
    show_result_pyplot(model, args.image, result, show=False,
                       out_file=args.out_file, opacity=0.5)
    labels = result.pred_sem_seg.data.unique().tolist()
    print(f'{len(labels)} classes in the prediction')


def demo_pose(cfg, args):
    from mogavision.apis import draw_pose, inference_pose, init_pose_model
    model = exported_model(cfg, args) or init_pose_model(
        cfg, args.checkpoint, device=args.device)
    result = inference_pose(model, args.image, bboxes=args.bbox)
    draw_pose(model, args.image, result, args.out_file, kpt_thr=args.score_thr)
    print(f'{len(result.pred_instances)} people')


DEMOS = {'cls': demo_cls, 'det': demo_det, 'seg': demo_seg, 'pose': demo_pose}


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args)
    out_dir = osp.dirname(args.out_file)
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
    DEMOS[task_of(cfg)](cfg, args)
    print(f'wrote {args.out_file}')


if __name__ == '__main__':
    main()
