# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""The main job on a built-in tiny example (`make demo`): write a synthetic
COCO-format dataset, train Mask R-CNN + MogaNet-XT on it with
tools/train.py, evaluate with tools/test.py (COCO bbox/segm AP) and draw a
prediction with tools/demo/image_demo.py. A few minutes on 2 CPU cores.
"""
import argparse
import os
import os.path as osp
import subprocess
import sys
import time

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = 'configs/det/mask_rcnn_moganet_xt_synthetic.py'


def step(title):
    print(f'\n==> [{time.strftime("%H:%M:%S")}] {title}', flush=True)


def run(args):
    print('$ ' + ' '.join(args), flush=True)
    subprocess.run([sys.executable, *args], cwd=REPO_ROOT, check=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--epochs', type=int, default=6)
    parser.add_argument('--train-images', type=int, default=24)
    parser.add_argument('--val-images', type=int, default=6)
    args = parser.parse_args(argv)
    work_dir = args.work_dir
    data_root = osp.join(work_dir, 'coco') + '/'

    step(f'writing a synthetic COCO dataset to {data_root}')
    from mogavision.datasets.synthetic import write_coco_instances
    write_coco_instances(
        osp.join(REPO_ROOT, data_root),
        splits={'train2017': args.train_images, 'val2017': args.val_images},
        image_size=(320, 256), classes=('person', 'bicycle', 'car'), seed=0)

    options = [
        f'data_root={data_root}',
        f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
        f'val_evaluator.ann_file={data_root}annotations/instances_val2017.json',
        f'test_evaluator.ann_file={data_root}annotations/instances_val2017.json',
        f'train_cfg.max_epochs={args.epochs}',
        f'train_cfg.val_interval={args.epochs}',
        f'default_hooks.checkpoint.interval={args.epochs}',
    ]
    step(f'training Mask R-CNN + MogaNet-XT for {args.epochs} epochs '
         '(tools/train.py)')
    run(['tools/train.py', CONFIG, '--work-dir', work_dir, '--cfg-options',
         *options])

    checkpoint = osp.join(work_dir, f'epoch_{args.epochs}.pth')
    step('evaluating COCO bbox/segm AP (tools/test.py)')
    run(['tools/test.py', CONFIG, checkpoint, '--work-dir', work_dir,
         '--cfg-options', *options])

    step('drawing a prediction (tools/demo/image_demo.py)')
    image = osp.join(data_root, 'val2017', sorted(os.listdir(
        osp.join(REPO_ROOT, data_root, 'val2017')))[0])
    picture = osp.join(work_dir, 'prediction.png')
    run(['tools/demo/image_demo.py', image, CONFIG, checkpoint, '--out-file',
         picture, '--score-thr', '0.3', '--cfg-options', *options])
    print(f'\ndemo done: checkpoint {checkpoint}, prediction picture '
          f'{picture}, logs under {work_dir}/')


if __name__ == '__main__':
    main()
