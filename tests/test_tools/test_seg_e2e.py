"""``tools/train.py`` and ``tools/test.py`` on the segmentation configs, as
real subprocesses on a synthetic ADE20K-layout dataset."""
import glob
import os.path as osp
import re
import time

import pytest
from conftest import REPO_ROOT

from mogavision.datasets.synthetic import write_ade20k


@pytest.fixture(scope='module')
def ade_root(tmp_path_factory):
    # 83x45 images: neither side a multiple of 32.
    root = str(tmp_path_factory.mktemp('ade') / 'ADEChallengeData2016')
    return write_ade20k(root, splits={'training': 2, 'validation': 1},
                        image_size=(83, 45))


def small_run_options(data_root):
    """``--cfg-options`` that shrink a seg config to a 2-iteration CPU run
    on ``data_root``: no pretrained weights, 64x64 crops, test images
    keep-ratio resized into (128, 64) and aligned to 32, no workers."""
    options = [
        'model.backbone.init_cfg=None',
        'model.data_preprocessor.size=(64,64)',
        'train_dataloader.dataset.pipeline.2.scale=(128,64)',
        'train_dataloader.dataset.pipeline.3.crop_size=(64,64)',
        'train_dataloader.batch_size=2',
        'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
        'default_hooks.checkpoint.interval=2',
        'default_hooks.logger.interval=1',
    ]
    for split in ('train', 'val', 'test'):
        options += [f'{split}_dataloader.dataset.data_root={data_root}',
                    f'{split}_dataloader.num_workers=0',
                    f'{split}_dataloader.persistent_workers=False']
        if split != 'train':
            options.append(f'{split}_dataloader.dataset.pipeline.1.scale='
                           '(128,64)')
    return options


# UperNet's 512-channel heads dominate a CPU step; the tool path under test
# does not depend on their width (the config tests run them at full width).
SLIM_HEADS = {
    'semantic_fpn_moganet_xt.py': [],
    'upernet_moganet_xt.py': ['model.decode_head.channels=64',
                              'model.auxiliary_head.channels=32'],
}


@pytest.mark.parametrize('config', sorted(SLIM_HEADS))
def test_train_then_test(config, ade_root, tmp_path, run_tool):
    config_path = osp.join('configs', 'seg', config)
    work_dir = str(tmp_path / 'work')
    options = small_run_options(ade_root) + SLIM_HEADS[config]
    out = run_tool(['tools/train.py', config_path, '--work-dir', work_dir,
                    '--cfg-options', *options])
    assert 'SyncBN norm configs converted to BN' in out
    assert re.search(r'Iter\(train\) \[2/2\].*decode\.loss_ce', out)
    assert re.search(r'Iter\(val\) \[1/1\].*mIoU', out)
    checkpoint = osp.join(work_dir, 'iter_2.pth')
    assert osp.isfile(checkpoint)

    out = run_tool(['tools/test.py', config_path, checkpoint, '--work-dir',
                    str(tmp_path / 'test'), '--cfg-options', *options])
    assert re.search(r'Iter\(test\) \[1/1\].*mIoU: \d', out)
    assert 'Load checkpoint from' in out
    if config == 'semantic_fpn_moganet_xt.py':
        # A user's own script, without mogavision imported beforehand.
        image = glob.glob(osp.join(ade_root, 'images', 'validation',
                                   '*.jpg'))[0]
        out = run_tool(['python', '-c', (
            'from mmseg.apis import MMSegInferencer\n'
            f'inferencer = MMSegInferencer(model={config_path!r}, '
            f'weights={checkpoint!r}, device="cpu")\n'
            f'result = inferencer({image!r}, return_datasamples=True)\n'
            'print("SEGMENTED", tuple(result.pred_sem_seg.shape))\n')])
        assert 'SEGMENTED' in out


def test_missing_data_fails_fast_naming_the_path(tmp_path, run_tool):
    """From a directory without ``data/``, the default data root is absent:
    the tool stops before building anything and names the missing path."""
    config_path = osp.join(REPO_ROOT, 'configs', 'seg', 'upernet_moganet_s.py')
    start = time.monotonic()
    with pytest.raises(pytest.fail.Exception) as failure:
        run_tool([osp.join(REPO_ROOT, 'tools', 'train.py'), config_path],
                 cwd=str(tmp_path))
    message = str(failure.value)
    assert 'FileNotFoundError' in message
    assert ('train_dataloader.dataset.data_prefix.img_path: '
            'data/ade/ADEChallengeData2016/images/training') in message
    assert 'data/ade/ADEChallengeData2016/images/validation' in message
    assert 'Downloading' not in message  # failed before any weights
    assert time.monotonic() - start < 120
