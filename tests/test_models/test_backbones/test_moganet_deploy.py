"""Inference-time variants of MogaNet compute the same function as eager:
BN/layer-scale folding, channels_last and torch.compile."""
import copy

import pytest
import torch
from conftest import randomize_norms
from torch.nn.modules.batchnorm import _BatchNorm

from mogavision.models import MogaNet

SMALL_ARCH = dict(embed_dims=[8, 16, 24, 32], depths=[1, 1, 2, 1],
                  ffn_ratios=[8, 8, 4, 4])


def randomized(arch, **kwargs):
    """A MogaNet with random weights, BN statistics (``randomize_norms``)
    and, beyond the norms, layer scales large enough that a wrong fold
    shows."""
    torch.manual_seed(0)
    model = MogaNet(arch=arch, out_indices=(0, 1, 2, 3), **kwargs)
    model.init_weights()
    # narrower shifts, wider variances than the default: with those, the
    # deep L/XL nets overflow to inf
    randomize_norms(model, seed=0, shift=.3, var_range=(.5, 2.))
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


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_switch_to_deploy_twice_and_with_test_cfg_changes_nothing():
    model = randomized(SMALL_ARCH)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ref = model(x)
        model.switch_to_deploy()
        folded_state, folded = _state(model), model(x)
        assert_same(folded, ref)
        # mmpose's BasePoseEstimator.switch_to_deploy: the backbone, then
        # every submodule that has the method, each with the test_cfg.
        test_cfg = dict(flip_test=True, shift_heatmap=True)
        for module in model.modules():
            if callable(getattr(module, 'switch_to_deploy', None)):
                module.switch_to_deploy(test_cfg)
        assert model.switch_to_deploy(test_cfg) is model
        model.patch_embed1.switch_to_deploy()  # the stem, a second time
        state = _state(model)
        assert state.keys() == folded_state.keys()
        assert all(torch.equal(state[k], folded_state[k]) for k in state)
        for out, before in zip(model(x), folded):
            assert torch.equal(out, before)


@pytest.mark.parametrize('name', ['patch_embed1', 'patch_embed2', 'blocks1'])
def test_submodule_folds_once_when_called_first(name):
    """A submodule folded on its own, then the whole backbone: the same
    function (no BN folded twice)."""
    model = randomized(SMALL_ARCH)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ref = model(x)
        part = model.get_submodule(name)
        for module in ([part] if hasattr(part, 'switch_to_deploy')
                       else list(part)):
            module.switch_to_deploy()
            module.switch_to_deploy()
        model.switch_to_deploy()
        assert_same(model(x), ref)


def test_mmpose_switch_to_deploy_on_a_pose_estimator():
    pytest.importorskip('mmpose')
    from mmpose.models import TopdownPoseEstimator
    import mogavision.models  # noqa: F401
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmpose'):
        estimator = TopdownPoseEstimator(
            backbone=dict(type='mogavision.MogaNet', arch=SMALL_ARCH,
                          out_indices=(3, )),
            head=dict(type='HeatmapHead', in_channels=32, out_channels=3,
                      deconv_out_channels=(8, ), deconv_kernel_sizes=(4, ),
                      decoder=dict(type='MSRAHeatmap', input_size=(32, 32),
                                   heatmap_size=(8, 8), sigma=2)),
            test_cfg=dict(flip_test=True)).eval()
    reference = randomized(SMALL_ARCH)
    estimator.backbone.load_state_dict(reference.state_dict())
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        ref = estimator.head(estimator.extract_feat(x))
        estimator.switch_to_deploy()  # raised on the stem before the fix
        assert estimator.backbone.deploy
        assert_same([estimator.head(estimator.extract_feat(x))], [ref])
