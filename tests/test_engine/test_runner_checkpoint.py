"""An mmengine Runner checkpoint (message hub, numpy state) loads again on
torch >= 2.6 under weights_only=True, and --resume works; with
CheckpointFormatHook it loads in a process without mogavision too."""
import itertools
import os.path as osp

import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

import mogavision  # noqa: F401


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, labels, mode='tensor'):
        out = self.linear(inputs)
        if mode == 'loss':
            return dict(loss=((out.squeeze(1) - labels)**2).mean())
        return out


class ToyData(Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        return dict(inputs=torch.randn(2, generator=g),
                    labels=torch.tensor(float(i % 2)))


_RUNS = itertools.count()


def make_runner(work_dir, max_iters, resume=False, load_from=None,
                custom_hooks=None):
    # A name of its own: runners made within one second would otherwise
    # share mmengine's MessageHub instance (named by the time).
    return Runner(
        experiment_name=f'{osp.basename(work_dir)}_{next(_RUNS)}',
        model=ToyModel(),
        work_dir=work_dir,
        train_dataloader=dict(dataset=ToyData(), batch_size=2,
                              sampler=dict(type='DefaultSampler',
                                           shuffle=True),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=0.01)),
        param_scheduler=dict(type='MultiStepLR', milestones=[2]),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2,
                                           by_epoch=False)),
        randomness=dict(seed=0),
        resume=resume,
        load_from=load_from,
        custom_hooks=custom_hooks,
        default_scope='mmengine')


def test_runner_checkpoint_loads_and_resumes(tmp_path):
    runner = make_runner(str(tmp_path / 'a'), max_iters=2)
    runner.train()
    ckpt = osp.join(str(tmp_path / 'a'), 'iter_2.pth')
    loaded = torch.load(ckpt, map_location='cpu')  # weights_only default
    assert 'message_hub' in loaded and loaded['meta']['iter'] == 2
    resumed = make_runner(str(tmp_path / 'a'), max_iters=4, resume=True,
                          load_from=ckpt)
    resumed.train()
    assert resumed.iter == 4


def test_plain_torch_refuses_runner_checkpoint_without_allow_list(
        tmp_path, run_tool):
    """Documents the trap the allow-list fixes: without mogavision's safe
    globals, torch refuses an mmengine Runner checkpoint."""
    runner = make_runner(str(tmp_path / 'b'), max_iters=2)
    runner.train()
    ckpt = osp.join(str(tmp_path / 'b'), 'iter_2.pth')
    code = ('import torch, pickle\n'
            'try:\n'
            f'    torch.load({ckpt!r}, map_location="cpu")\n'
            '    print("LOADED")\n'
            'except pickle.UnpicklingError as e:\n'
            '    print("REFUSED", str(e)[:200])\n')
    out = run_tool(['python', '-c', code])
    assert 'REFUSED' in out


PORTABLE = [dict(type='mogavision.CheckpointFormatHook')]
LOAD_IN_PLAIN_TORCH = ('import sys, torch\n'
                       'assert "mogavision" not in sys.modules\n'
                       'c = torch.load({!r}, map_location="cpu")\n'
                       'print("LOADED", sorted(c))\n')


def test_portable_checkpoint_loads_without_mogavision(tmp_path, run_tool):
    make_runner(str(tmp_path / 'p'), max_iters=2,
                custom_hooks=PORTABLE).train()
    ckpt = osp.join(str(tmp_path / 'p'), 'iter_2.pth')
    out = run_tool(['python', '-c', LOAD_IN_PLAIN_TORCH.format(ckpt)])
    assert "LOADED ['message_hub', 'meta', 'optimizer'" in out


def test_portable_checkpoint_resumes_exactly(tmp_path):
    torch.manual_seed(0)  # the same initial weights for both runs
    straight = make_runner(str(tmp_path / 's'), max_iters=4,
                           custom_hooks=PORTABLE)
    straight.train()
    torch.manual_seed(0)
    make_runner(str(tmp_path / 'r'), max_iters=2,
                custom_hooks=PORTABLE).train()
    resumed = make_runner(str(tmp_path / 'r'), max_iters=4, resume=True,
                          load_from=osp.join(str(tmp_path / 'r'),
                                             'iter_2.pth'),
                          custom_hooks=PORTABLE)
    resumed.train()
    for name, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name
    ours = resumed.message_hub.get_scalar('train/loss').data
    theirs = straight.message_hub.get_scalar('train/loss').data
    assert (ours[0] == theirs[0]).all() and (ours[1] == theirs[1]).all()
    assert len(ours[0]) == 4  # the resumed run kept the first two losses
