"""tools/train.py, tools/test.py and tools/dist_train.sh as a user runs them:
train -> checkpoint -> --resume -> test -> --out, distributed (gloo), and
resume after a hard kill."""
import json
import os
import os.path as osp
import pickle
import subprocess
import sys

import pytest
import torch

from mogavision.datasets.synthetic import write_imagenet

CONFIG = 'tests/data/configs/toy_moganet_cls.py'
HOOKS_CONFIG = 'tests/data/configs/toy_moganet_cls_hooks.py'
DATA_DIR = osp.join(osp.dirname(osp.dirname(__file__)), 'data')


@pytest.fixture(scope='module')
def toy_data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('toy_imagenet'))
    write_imagenet(root, splits={'train': 4, 'val': 2}, num_classes=4,
                   image_size=40)
    return root


def data_options(root):
    return [f'{split}_dataloader.dataset.data_root={root}'
            for split in ('train', 'val', 'test')]


def losses(work_dir):
    """Logged training losses by iteration from the json scalars log."""
    (run, ) = [d for d in os.listdir(work_dir)
               if osp.isdir(osp.join(work_dir, d)) and d[:2] == '20']
    out = {}
    with open(osp.join(work_dir, run, 'vis_data', 'scalars.json')) as f:
        for line in f:
            record = json.loads(line)
            if 'loss' in record:
                out[record['iter']] = record['loss']
    return out


def weights(path):
    return torch.load(path, map_location='cpu')['state_dict']


def test_train_resume_test_out(toy_data, tmp_path, run_tool):
    work_dir = str(tmp_path / 'work')
    out = run_tool(['tools/train.py', CONFIG, '--work-dir', work_dir,
                    '--cfg-options', *data_options(toy_data)])
    assert 'Saving checkpoint at 4 iterations' in out
    assert osp.isfile(osp.join(work_dir, 'iter_4.pth'))
    assert osp.isfile(osp.join(work_dir, 'toy_moganet_cls.py'))  # merged config

    out = run_tool(['tools/train.py', CONFIG, '--work-dir', work_dir,
                    '--resume', '--cfg-options', *data_options(toy_data),
                    'train_cfg.max_iters=6'])
    assert 'Auto resumed from the latest checkpoint' in out or \
        'resumed epoch: 0, iter: 4' in out
    assert osp.isfile(osp.join(work_dir, 'iter_6.pth'))

    pkl = str(tmp_path / 'preds.pkl')
    out = run_tool(['tools/test.py', CONFIG, osp.join(work_dir, 'iter_6.pth'),
                    '--work-dir', work_dir, '--out', pkl, '--cfg-options',
                    *data_options(toy_data)])
    assert 'accuracy/top1' in out
    with open(pkl, 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == 8 and 'pred_score' in preds[0]

    fast_pkl = str(tmp_path / 'preds_deploy.pkl')
    out = run_tool(['tools/test.py', CONFIG, osp.join(work_dir, 'iter_6.pth'),
                    '--work-dir', work_dir, '--deploy', '--channels-last',
                    '--out', fast_pkl, '--cfg-options',
                    *data_options(toy_data)])
    assert 'Folded BN and layer scales for inference in: backbone' in out
    with open(fast_pkl, 'rb') as f:
        fast = pickle.load(f)
    for a, b in zip(preds, fast):
        torch.testing.assert_close(a['pred_score'], b['pred_score'],
                                   rtol=0, atol=1e-5)


def test_missing_checkpoint_and_data_are_clear_errors(tmp_path):
    proc = subprocess.run(
        [sys.executable, 'tools/test.py', CONFIG, str(tmp_path / 'nope.pth')],
        capture_output=True, text=True)
    assert proc.returncode != 0 and 'Checkpoint not found' in proc.stderr
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', CONFIG, '--work-dir',
         str(tmp_path / 'w'), '--cfg-options',
         *data_options(str(tmp_path / 'absent'))],
        capture_output=True, text=True)
    assert proc.returncode != 0
    assert 'Dataset files not found' in proc.stderr
    assert str(tmp_path / 'absent') in proc.stderr


def test_dist_train_two_processes_gloo(toy_data, tmp_path, run_tool):
    work_dir = str(tmp_path / 'dist')
    out = run_tool(
        ['bash', 'tools/dist_train.sh', HOOKS_CONFIG, '2', '--work-dir',
         work_dir, '--cfg-options', *data_options(toy_data),
         'train_cfg.max_iters=2'],
        env=dict(PYTHONPATH=DATA_DIR, PORT='29533',
                 PYTHON=sys.executable))
    assert 'backend nccl -> gloo' in out
    rank0 = torch.load(osp.join(work_dir, 'rank0.pth'))
    rank1 = torch.load(osp.join(work_dir, 'rank1.pth'))
    initial = weights(osp.join(work_dir, 'iter_2.pth'))
    for key in rank0:
        torch.testing.assert_close(rank0[key], rank1[key], rtol=0, atol=0)
    for key in rank0:  # the checkpoint (rank 0) holds the same weights
        torch.testing.assert_close(initial[key], rank0[key], rtol=0, atol=0)

    out = run_tool(
        ['bash', 'tools/dist_test.sh', CONFIG,
         osp.join(work_dir, 'iter_2.pth'), '2', '--work-dir', work_dir,
         '--cfg-options', *data_options(toy_data)],
        env=dict(PORT='29534', PYTHON=sys.executable))
    assert 'accuracy/top1' in out


def test_deterministic_runs_log_identical_losses(toy_data, tmp_path, run_tool):
    runs = []
    for name in ('a', 'b'):
        work_dir = str(tmp_path / name)
        run_tool(['tools/train.py', CONFIG, '--work-dir', work_dir,
                  '--cfg-options', *data_options(toy_data)])
        runs.append(losses(work_dir))
    assert len(runs[0]) == 4 and runs[0] == runs[1]


def test_resume_after_sigkill_matches_uninterrupted_run(toy_data, tmp_path,
                                                        run_tool):
    options = [*data_options(toy_data), 'train_cfg.max_iters=6']
    env = dict(PYTHONPATH=DATA_DIR)
    full = str(tmp_path / 'full')
    run_tool(['tools/train.py', HOOKS_CONFIG, '--work-dir', full,
              '--cfg-options', *options], env=env)

    killed = str(tmp_path / 'killed')
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', HOOKS_CONFIG, '--work-dir', killed,
         '--cfg-options', *options],
        env=dict(os.environ, MOGAVISION_TEST_KILL='1', **env),
        capture_output=True, text=True)
    assert proc.returncode == -9, proc.stdout[-3000:]
    assert open(osp.join(killed, 'last_checkpoint')).read().endswith(
        'iter_4.pth')
    assert not osp.exists(osp.join(killed, 'iter_6.pth'))
    run_tool(['tools/train.py', HOOKS_CONFIG, '--work-dir', killed,
              '--resume', '--cfg-options', *options], env=env)

    expected = weights(osp.join(full, 'iter_6.pth'))
    resumed = weights(osp.join(killed, 'iter_6.pth'))
    for key, value in expected.items():
        torch.testing.assert_close(resumed[key], value, rtol=0, atol=1e-6,
                                   msg=key)
    full_losses = losses(full)
    resumed_losses = {}
    for run in sorted(os.listdir(killed)):
        if osp.isdir(osp.join(killed, run)) and run[:2] == '20':
            with open(osp.join(killed, run, 'vis_data', 'scalars.json')) as f:
                for line in f:
                    record = json.loads(line)
                    if 'loss' in record:
                        resumed_losses[record['iter']] = record['loss']
    assert resumed_losses == full_losses


def test_neck_channels_checked_at_build_time(tmp_path):
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', 'configs/det/mask_rcnn_moganet_xt.py',
         '--work-dir', str(tmp_path), '--cfg-options',
         'model.backbone.out_indices=(1,2,3)'],
        capture_output=True, text=True)
    assert proc.returncode != 0
    assert ('model.neck.in_channels=[32, 64, 96, 192] does not match the '
            'MogaNet features ([64, 96, 192]') in proc.stderr


def test_checkpoint_with_another_num_classes_is_refused(toy_data, tmp_path,
                                                        run_tool):
    work_dir = str(tmp_path / 'work')
    run_tool(['tools/train.py', CONFIG, '--work-dir', work_dir,
              '--cfg-options', *data_options(toy_data),
              'train_cfg.max_iters=2'])
    proc = subprocess.run(
        [sys.executable, 'tools/test.py', CONFIG,
         osp.join(work_dir, 'iter_2.pth'), '--work-dir', work_dir,
         '--cfg-options', *data_options(toy_data),
         'model.head.num_classes=7'],
        capture_output=True, text=True)
    assert proc.returncode != 0
    assert 'head.fc.weight: checkpoint (4, 32) vs model (7, 32)' in \
        proc.stderr
    assert 'num_classes' in proc.stderr
