"""Classification end to end: tools/train.py and tools/test.py on a small
synthetic ImageNet-layout dataset with configs/cls/moganet_xt_224.py."""
import importlib.util
import os.path as osp

import pytest

from mogavision.datasets.synthetic import write_imagenet

CONFIG = 'configs/cls/moganet_xt_224.py'


def shrink_options(data_root, num_classes=4, size=64, batch_size=8):
    """--cfg-options that run the ImageNet config on the synthetic data:
    small images, 4 classes (named as the synthetic folders; top-1 only),
    no worker processes."""
    options = [
        f'model.head.num_classes={num_classes}',
        f'data_preprocessor.num_classes={num_classes}',
        'val_evaluator.topk=1', 'test_evaluator.topk=1',
        f'train_dataloader.dataset.pipeline.1.scale={size}',
        'default_hooks.logger.interval=1',
    ]
    classes = ','.join(f'n{k:08d}' for k in range(num_classes))
    for split in ('train', 'val', 'test'):
        options += [f'{split}_dataloader.dataset.data_root={data_root}',
                    f'{split}_dataloader.dataset.metainfo.classes=[{classes}]',
                    f'{split}_dataloader.batch_size={batch_size}',
                    f'{split}_dataloader.num_workers=0']
    for split in ('val', 'test'):
        options += [f'{split}_dataloader.dataset.pipeline.1.scale='
                    f'{round(size / 0.9)}',
                    f'{split}_dataloader.dataset.pipeline.2.crop_size={size}']
    return options


@pytest.fixture(scope='module')
def imagenet_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('imagenet'))
    write_imagenet(root, splits={'train': 4, 'val': 2}, num_classes=4,
                   image_size=64)
    return root


def test_train_two_iters_then_test(run_tool, imagenet_root, tmp_path):
    work_dir = str(tmp_path / 'work')
    # 16 images / batch 8 = two iterations in one epoch.
    log = run_tool(['tools/train.py', CONFIG, '--work-dir', work_dir,
                    '--cfg-options', *shrink_options(imagenet_root),
                    'train_cfg.max_epochs=1'])
    assert 'Epoch(train) [1][2/2]' in log
    assert 'accuracy/top1' in log
    checkpoint = osp.join(work_dir, 'epoch_1.pth')
    assert osp.isfile(checkpoint)

    log = run_tool(['tools/test.py', CONFIG, checkpoint, '--work-dir',
                    str(tmp_path / 'test'), '--cfg-options',
                    *shrink_options(imagenet_root)])
    assert 'Epoch(test) [1/1]' in log
    assert 'accuracy/top1:' in log


def test_missing_data_is_a_clear_error(repo_root, tmp_path):
    spec = importlib.util.spec_from_file_location(
        'train_tool', osp.join(repo_root, 'tools/train.py'))
    train_tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train_tool)
    missing = str(tmp_path / 'no_imagenet')
    args = train_tool.parse_args([
        osp.join(repo_root, CONFIG), '--work-dir', str(tmp_path / 'work'),
        '--cfg-options', f'train_dataloader.dataset.data_root={missing}',
        f'val_dataloader.dataset.data_root={missing}'
    ])
    with pytest.raises(FileNotFoundError,
                       match='Dataset files not found') as info:
        train_tool.build_train_config(args)
    assert f'train_dataloader.dataset.data_root: {missing}' in str(info.value)
    assert '--cfg-options' in str(info.value)
