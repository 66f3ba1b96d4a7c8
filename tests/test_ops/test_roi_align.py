"""ParallelRoIAlign against mmcv's RoIAlign: the same numbers (bit for bit)
for NCHW inputs, the right numbers for channels-last inputs."""
import pytest
import torch
from mmcv.ops import RoIAlign

from mogavision.ops import ParallelRoIAlign, use_parallel_roi_align


def random_rois(num, batch, extent, seed=0):
    """Boxes of 1..100 px, some partly outside a feature map of ``extent``
    image pixels, over ``batch`` images."""
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(num, 2, generator=g) * (extent + 20) - 10
    wh = torch.rand(num, 2, generator=g) * 100 + 1
    index = torch.randint(0, batch, (num, 1), generator=g).float()
    return torch.cat([index, xy, xy + wh], 1)


def pool_and_grad(layer, feat, rois):
    feat = feat.detach().requires_grad_()
    out = layer(feat, rois)
    grad_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
    grad, = torch.autograd.grad(out, feat, grad_out)
    return out, grad


@pytest.fixture
def two_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize('output_size', [7, 14])
@pytest.mark.parametrize('sampling_ratio', [0, 2])
@pytest.mark.parametrize('aligned', [True, False])
def test_same_results_and_gradients_as_mmcv(two_threads, output_size,
                                            sampling_ratio, aligned):
    feat = torch.randn(2, 33, 40, 48)  # odd channel count: unequal groups
    rois = random_rois(60, batch=2, extent=190)
    args = (output_size, 0.25, sampling_ratio, 'avg', aligned)
    out, grad = pool_and_grad(ParallelRoIAlign(*args), feat, rois)
    ref_out, ref_grad = pool_and_grad(RoIAlign(*args), feat, rois)
    assert torch.equal(out, ref_out)
    assert torch.equal(grad, ref_grad)


@pytest.mark.parametrize('threads', [1, 2])
@pytest.mark.parametrize('pool_mode', ['avg', 'max'])
def test_channels_last_input_gives_the_nchw_results(threads, pool_mode):
    """mmcv's kernels index memory as NCHW; a channels-last feature map (a
    model in torch.channels_last) must not change the result."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        feat = torch.randn(2, 16, 24, 20)
        rois = random_rois(30, batch=2, extent=90)
        layer = ParallelRoIAlign(7, 0.25, 2, pool_mode)
        ref_out, ref_grad = pool_and_grad(RoIAlign(7, 0.25, 2, pool_mode),
                                          feat, rois)
        out, grad = pool_and_grad(
            layer, feat.contiguous(memory_format=torch.channels_last), rois)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(out, ref_out)
    assert torch.equal(grad, ref_grad)


def test_no_rois(two_threads):
    feat = torch.randn(1, 8, 10, 10, requires_grad=True)
    out = ParallelRoIAlign(7, 0.5)(feat, torch.zeros(0, 5))
    assert out.shape == (0, 8, 7, 7)
    out.sum().backward()
    assert torch.equal(feat.grad, torch.zeros_like(feat))


def test_use_parallel_roi_align_changes_only_mmcv_roi_align():
    model = torch.nn.ModuleDict(dict(
        bbox=torch.nn.ModuleList([RoIAlign(7, s) for s in (0.25, 0.125)]),
        mask=RoIAlign(14, 0.25, sampling_ratio=2, aligned=False),
        conv=torch.nn.Conv2d(3, 3, 1)))
    assert use_parallel_roi_align(model) == 3
    layers = [model['bbox'][0], model['bbox'][1], model['mask']]
    assert all(type(m) is ParallelRoIAlign for m in layers)
    assert (model['mask'].output_size, model['mask'].sampling_ratio,
            model['mask'].aligned) == ((14, 14), 2, False)
    assert type(model['conv']) is torch.nn.Conv2d
    assert use_parallel_roi_align(model) == 0  # already changed
