import copy
import os.path as osp

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from mogavision.models import MogaNet

PARITY_FILE = osp.join(osp.dirname(__file__), '..', '..', 'data',
                       'moganet_parity_small.pt')
SMALL_ARCH = dict(embed_dims=[8, 16, 24, 32], depths=[1, 1, 2, 1],
                  ffn_ratios=[8, 8, 4, 4])

# Reference parameter counts (released code, fvcore), backbone / +1000-cls head.
PARAMS = {
    'xtiny': (2_763_066, 2_956_066),
    'tiny': (4_940_332, 5_197_332),
    'small': (24_822_675, 25_335_675),
    'base': (43_207_475, 43_720_475),
    'large': (81_839_978, 82_480_978),
    'xlarge': (180_030_924, 180_991_924),
}


def count(module):
    return sum(p.numel() for p in module.parameters())


def test_bad_arguments():
    with pytest.raises(KeyError, match='Unknown MogaNet arch'):
        MogaNet(arch='huge')
    with pytest.raises(ValueError, match='exactly the keys'):
        MogaNet(arch=dict(embed_dims=[8] * 4, depths=[1] * 4))
    with pytest.raises(ValueError, match='one per stage'):
        MogaNet(arch=dict(embed_dims=[8] * 3, depths=[1] * 3,
                          ffn_ratios=[4] * 3))
    with pytest.raises(ValueError, match='divisible by 8'):
        MogaNet(arch=dict(embed_dims=[8, 16, 20, 32], depths=[1] * 4,
                          ffn_ratios=[4] * 4))
    with pytest.raises(ValueError, match='out of range'):
        MogaNet(arch=SMALL_ARCH, out_indices=(4, ))
    with pytest.raises(ValueError, match='out of range'):
        MogaNet(arch=SMALL_ARCH, out_indices=-5)
    with pytest.raises(ValueError, match='same stage twice'):
        MogaNet(arch=SMALL_ARCH, out_indices=(3, -1))
    with pytest.raises(TypeError, match='out_indices'):
        MogaNet(arch=SMALL_ARCH, out_indices='3')
    with pytest.raises(ValueError, match='frozen_stages'):
        MogaNet(arch=SMALL_ARCH, frozen_stages=5)
    with pytest.raises(TypeError, match='unexpected keyword'):
        MogaNet(arch=SMALL_ARCH, fork_feat=True)


@pytest.mark.parametrize('arch', ['xt', 'x-tiny', 'XTiny', 't', 's', 'b', 'l',
                                  'xl', 'x-large'])
def test_aliases(arch):
    long_names = {'xt': 'xtiny', 'x-tiny': 'xtiny', 'xtiny': 'xtiny',
                  't': 'tiny', 's': 'small', 'b': 'base', 'l': 'large',
                  'xl': 'xlarge', 'x-large': 'xlarge'}
    key = arch.lower()
    assert MogaNet.arch_settings[key] == \
        MogaNet.arch_settings[long_names[key]]


@pytest.mark.parametrize('arch', list(PARAMS))
def test_param_counts_and_shapes(arch):
    model = MogaNet(arch=arch, out_indices=(0, 1, 2, 3))
    backbone, with_head = PARAMS[arch]
    assert count(model) == backbone
    assert count(model) + model.embed_dims[-1] * 1000 + 1000 == with_head
    model.eval()
    dims = model.embed_dims
    if arch in ('xtiny', 'tiny'):
        sizes = [(224, 224, [56, 28, 14, 7], [56, 28, 14, 7]),
                 (225, 257, [57, 29, 15, 8], [65, 33, 17, 9])]
        with torch.no_grad():
            for h, w, hs, ws in sizes:
                feats = model(torch.randn(1, 3, h, w))
                assert [tuple(f.shape) for f in feats] == [
                    (1, c, fh, fw) for c, fh, fw in zip(dims, hs, ws)
                ]


@pytest.mark.parametrize('out_indices,expected', [(3, (3, )), (-1, (3, )),
                                                  ((0, 2), (0, 2)),
                                                  ((-4, -2), (0, 2)),
                                                  ([1, 0], (0, 1))])
def test_out_indices(out_indices, expected):
    model = MogaNet(arch=SMALL_ARCH, out_indices=out_indices).eval()
    assert model.out_indices == expected
    assert model.out_channels == tuple(SMALL_ARCH['embed_dims'][i]
                                       for i in expected)
    feats = model(torch.randn(2, 3, 64, 64))
    assert len(feats) == len(expected)
    for feat, i in zip(feats, expected):
        assert feat.shape == (2, SMALL_ARCH['embed_dims'][i], 16 // 2**i,
                              16 // 2**i)


def test_frozen_stages_hold_after_train():
    model = MogaNet(arch=SMALL_ARCH, frozen_stages=2)
    model.init_weights()
    model.train()
    for i in range(4):
        frozen = i < 2
        for module in model.stage_modules(i):
            assert all(p.requires_grad != frozen for p in module.parameters())
            for m in module.modules():
                if isinstance(m, _BatchNorm):
                    assert m.training != frozen
    # Frozen BN statistics do not move during training.
    before = model.norm1.running_mean.clone()
    model(torch.randn(2, 3, 32, 32))
    assert torch.equal(model.norm1.running_mean, before)
    assert not torch.equal(model.norm3.running_mean, torch.zeros(24))


@pytest.mark.parametrize('frozen', [0, -1])
def test_nothing_frozen(frozen):
    model = MogaNet(arch=SMALL_ARCH, frozen_stages=frozen).train()
    assert all(p.requires_grad for p in model.parameters())


def test_norm_eval():
    model = MogaNet(arch=SMALL_ARCH, norm_eval=True)
    model.train()
    assert model.training
    assert all(not m.training for m in model.modules()
               if isinstance(m, _BatchNorm))
    model = MogaNet(arch=SMALL_ARCH, norm_eval=False).train()
    assert all(m.training for m in model.modules()
               if isinstance(m, _BatchNorm))


def test_with_cp_same_outputs_and_grads():
    torch.manual_seed(0)
    model = MogaNet(arch=SMALL_ARCH, out_indices=(0, 1, 2, 3))
    model.init_weights()
    model_cp = copy.deepcopy(model)
    model_cp.with_cp = True
    x = torch.randn(2, 3, 32, 32)
    outs = model(x)
    outs_cp = model_cp(x)
    for a, b in zip(outs, outs_cp):
        torch.testing.assert_close(a, b)
    sum(o.sum() for o in outs).backward()
    sum(o.sum() for o in outs_cp).backward()
    for (name, p), p_cp in zip(model.named_parameters(), model_cp.parameters()):
        torch.testing.assert_close(p.grad, p_cp.grad, msg=name)


def test_drop_path_linear():
    model = MogaNet(arch=SMALL_ARCH, drop_path_rate=0.4)
    rates = [b.drop_path.drop_prob if hasattr(b.drop_path, 'drop_prob') else 0.
             for i in range(4) for b in model.stage_modules(i)[1]]
    torch.testing.assert_close(torch.tensor(rates),
                               torch.linspace(0, 0.4, 5))


def test_release_state_dict_names():
    model = MogaNet(arch='xtiny')
    state = model.state_dict()
    assert len(state) == 703
    assert state['blocks3.7.attn.value.DW_conv2.weight'].shape == (48, 1, 7, 7)
    assert state['blocks1.0.mlp.sigma.scale'].shape == (1, 256, 1, 1)
    assert state['patch_embed1.projection.3.weight'].shape == (32, 16, 3, 3)
    assert state['norm4.running_var'].shape == (192, )


@pytest.mark.parametrize('mode', ['default', 'force_fp32'])
def test_parity_with_release(mode):
    ref = torch.load(PARITY_FILE, weights_only=False)[mode]
    model = MogaNet(arch=ref['arch'], out_indices=(0, 1, 2, 3),
                    attn_force_fp32=ref['attn_force_fp32']).eval()
    state = dict(ref['state_dict'])
    head_w, head_b = state.pop('head.weight'), state.pop('head.bias')
    assert list(state) == list(model.state_dict()), 'key order differs'
    model.load_state_dict(state, strict=True)
    with torch.no_grad():
        feats = model(ref['input'])
        logits = torch.nn.functional.linear(feats[-1].mean((2, 3)), head_w,
                                            head_b)
    # fp32 rounding: kernels and summation order differ between CPUs (up to
    # 1.3e-5 on outputs of magnitude ~10 on one of this project's VMs).
    for ours, theirs in zip(feats, ref['feats']):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(logits, ref['logits'], rtol=1e-5, atol=1e-5)


def test_force_fp32_is_a_different_function():
    ref = torch.load(PARITY_FILE, weights_only=False)['default']
    state = {k: v for k, v in ref['state_dict'].items()
             if not k.startswith('head.')}
    outs = []
    for flag in (False, True):
        model = MogaNet(arch=ref['arch'], attn_force_fp32=flag).eval()
        model.load_state_dict(state)
        with torch.no_grad():
            outs.append(model(ref['input'])[0])
    assert (outs[0] - outs[1]).abs().max() > 1e-3


def test_gate_fp32_is_the_same_function():
    torch.manual_seed(0)
    model = MogaNet(arch=SMALL_ARCH).eval()
    model.init_weights()
    for p in model.parameters():  # make the attention branch matter
        p.data.add_(torch.randn_like(p) * 0.1)
    gate32 = copy.deepcopy(model)
    for m in gate32.modules():
        if hasattr(m, 'attn_gate_fp32'):
            m.attn_gate_fp32 = True
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x)[0], gate32(x)[0])


LAYER_IDS = {  # release's get_num_layer_layer_wise with num_layers=12
    'backbone.patch_embed1.projection.0.weight': 0,
    'backbone.blocks1.2.attn.proj_1.weight': 2,
    'backbone.patch_embed2.projection.weight': 3,
    'backbone.blocks2.0.norm1.weight': 3,
    'backbone.patch_embed3.norm.bias': 4,
    'backbone.blocks3.0.mlp.fc1.weight': 3,
    'backbone.blocks3.5.layer_scale_1': 5,
    'backbone.blocks3.21.attn.gate.bias': 11,
    'backbone.patch_embed4.projection.weight': 12,
    'backbone.blocks4.1.mlp.sigma.scale': 12,
    'backbone.norm3.weight': 13,
    'neck.lateral_convs.0.conv.weight': 13,
}


@pytest.mark.parametrize('name,layer_id', list(LAYER_IDS.items()))
def test_get_layer_depth_matches_release(name, layer_id):
    model = MogaNet(arch='base')
    assert model.get_layer_depth(name, prefix='backbone.') == (layer_id, 14)
