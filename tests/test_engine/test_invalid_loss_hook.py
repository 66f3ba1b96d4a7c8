"""A NaN/inf loss stops training with the iteration, the bad terms and the
checkpoint to resume from."""
import math
import re
from types import SimpleNamespace

import pytest
import torch

from mogavision.engine.hooks import InvalidLossError, StopOnInvalidLossHook


def runner_at(work_dir, iteration=36, epoch=2):
    return SimpleNamespace(iter=iteration, epoch=epoch, work_dir=str(work_dir),
                           cfg=SimpleNamespace(filename='configs/my.py'))


def test_finite_losses_pass(tmp_path):
    StopOnInvalidLossHook().after_train_iter(
        runner_at(tmp_path), 0, outputs=dict(loss=torch.tensor(1.5),
                                             loss_cls=torch.tensor(0.5)))


def test_nan_names_iteration_terms_and_newest_good_checkpoint(tmp_path):
    torch.save({'meta': {}}, tmp_path / 'epoch_1.pth')
    torch.save({'meta': {}}, tmp_path / 'epoch_2.pth')
    outputs = dict(loss=torch.tensor(math.nan), loss_cls=torch.tensor(0.25),
                   loss_bbox=torch.tensor(math.inf), acc=torch.tensor(90.))
    with pytest.raises(InvalidLossError) as info:
        StopOnInvalidLossHook().after_train_iter(runner_at(tmp_path), 0,
                                                 outputs=outputs)
    message = str(info.value)
    assert 'stopped at iteration 37 (epoch 3)' in message
    assert 'loss=nan, loss_bbox=inf (finite: loss_cls=0.25)' in message
    assert re.search(r'tools/train.py configs/my.py --resume \S+epoch_2.pth',
                     message)


def test_nan_without_a_checkpoint_says_so(tmp_path):
    with pytest.raises(InvalidLossError, match='No checkpoint was saved'):
        StopOnInvalidLossHook().after_train_iter(
            runner_at(tmp_path), 0, outputs=dict(loss=torch.tensor(math.nan)))


def test_train_stops_at_the_first_nan(run_tool, repo_root, tmp_path):
    """Through tools/train.py: a loss weight of NaN makes the first loss
    NaN; the run stops there and writes no checkpoint."""
    import subprocess
    import sys
    from mogavision.datasets.synthetic import write_imagenet
    root = str(tmp_path / 'data') + '/'
    write_imagenet(root)
    proc = subprocess.run(
        [sys.executable, 'tools/train.py',
         'tests/data/configs/toy_moganet_cls.py', '--work-dir',
         str(tmp_path / 'work'), '--cfg-options',
         'model.head.loss.loss_weight=nan',
         f'train_dataloader.dataset.data_root={root}',
         f'val_dataloader.dataset.data_root={root}',
         f'test_dataloader.dataset.data_root={root}'],
        cwd=repo_root, capture_output=True, text=True)
    assert proc.returncode != 0
    assert 'InvalidLossError: Training stopped at iteration 1 (epoch 1): ' \
        'loss terms are not finite: loss=nan' in proc.stderr
    assert not list((tmp_path / 'work').glob('*.pth'))
