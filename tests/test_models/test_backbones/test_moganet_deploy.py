"""Inference-time variants of MogaNet compute the same function as eager:
BN/layer-scale folding, channels_last and torch.compile."""
import copy

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from mogavision.models import MogaNet

SMALL_ARCH = dict(embed_dims=[8, 16, 24, 32], depths=[1, 1, 2, 1],
                  ffn_ratios=[8, 8, 4, 4])


def randomized(arch, **kwargs):
    """Random weights, BN statistics and layer scales large enough that a
    wrong fold shows."""
    torch.manual_seed(0)
    model = MogaNet(arch=arch, out_indices=(0, 1, 2, 3), **kwargs)
    model.init_weights()
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            module.running_mean.uniform_(-.3, .3)
            module.running_var.uniform_(.5, 2.)
            module.weight.data.uniform_(.5, 1.5)
            module.bias.data.uniform_(-.3, .3)
    for name, param in model.named_parameters():
        if 'scale' in name:
            param.data.uniform_(-.1, .1)
    return model.eval()


def assert_same(outs, ref, tol=1e-4):
    """Within ``tol``, relative to the output's magnitude where that exceeds
    1 (deep random nets reach |x| ~ 20, where fp32 rounding alone is ~1e-5)."""
    assert len(outs) == len(ref)
    for out, expected in zip(outs, ref):
        assert out.shape == expected.shape
        scale = max(1., expected.abs().max().item())
        assert (out - expected).abs().max() <= tol * scale


@pytest.mark.parametrize('arch', ['xt', 't', 's', 'b', 'l', 'xl', SMALL_ARCH])
def test_folding_and_channels_last_match_eager(arch):
    model = randomized(arch)
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        ref = model(x)
        folded = copy.deepcopy(model).switch_to_deploy()
        assert_same(folded(x), ref)
        cl = MogaNet(arch=arch, out_indices=(0, 1, 2, 3),
                     channels_last=True).eval()
        cl.load_state_dict(model.state_dict())
        assert cl.patch_embed2.projection.weight.is_contiguous(
            memory_format=torch.channels_last)
        outs = cl(x)
        assert outs[0].is_contiguous(memory_format=torch.channels_last)
        assert_same(outs, ref)
        cl.switch_to_deploy()
        assert_same(cl(x), ref)


def test_folding_removes_the_norms_and_layer_scales():
    model = randomized(SMALL_ARCH).switch_to_deploy()
    names = [n for n, _ in model.named_modules()]
    assert not any(n.endswith(('norm1', 'norm2')) and 'blocks' in n
                   and not isinstance(model.get_submodule(n), torch.nn.Identity)
                   for n in names)
    assert not any('layer_scale' in n for n, _ in model.named_parameters())
    bns = [n for n, m in model.named_modules() if isinstance(m, _BatchNorm)]
    assert bns == ['norm1', 'norm2', 'norm3', 'norm4']  # stage outputs stay
    assert model.switch_to_deploy() is model  # idempotent


def test_folded_model_refuses_to_train():
    model = randomized(SMALL_ARCH).switch_to_deploy()
    with pytest.raises(RuntimeError, match='cannot be trained'):
        model.train()
    model.eval()  # eval stays allowed


def test_compile_matches_eager_without_graph_breaks():
    model = randomized(SMALL_ARCH)
    folded = copy.deepcopy(model).switch_to_deploy()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ref = model(x)
        # fullgraph=True raises on any graph break inside the backbone
        assert_same(torch.compile(folded, fullgraph=True)(x), ref)
