"""An mmengine Runner checkpoint (message hub, numpy state) loads again on
torch >= 2.6 under weights_only=True, and --resume works."""
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


def make_runner(work_dir, max_iters, resume=False, load_from=None):
    return Runner(
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
