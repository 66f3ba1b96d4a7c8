"""``AlignResize``: the release's test-time resize as an mmseg transform."""
import numpy as np
import pytest
from mmengine.registry import init_default_scope

from mogavision.datasets import AlignResize

# (h, w) -> (h, w) after keep-ratio resize to (2048, 512) and alignment to 32,
# worked out by hand: 375x500 -> 512x683 -> 512x704; 512x683 is already at
# scale -> 512x704; 333x777 -> 512x1195 -> 512x1216; 100x1000 is bound by the
# long edge -> 205x2048 -> 224x2048.
CASES = [((375, 500), (512, 704)), ((512, 683), (512, 704)),
         ((333, 777), (512, 1216)), ((100, 1000), (224, 2048))]


def _results(height, width, seed=0):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    seg = rng.integers(0, 5, (height, width), dtype=np.uint8)
    return dict(img=img, gt_seg_map=seg, seg_fields=['gt_seg_map'],
                img_shape=(height, width), ori_shape=(height, width))


@pytest.mark.parametrize('shape,expected', CASES)
def test_align_resize_sizes_and_meta(shape, expected):
    transform = AlignResize(scale=(2048, 512), keep_ratio=True)
    results = transform(_results(*shape))
    assert results['img'].shape == (*expected, 3)
    assert results['img_shape'] == expected
    assert results['gt_seg_map'].shape == expected
    assert all(side % 32 == 0 for side in results['img_shape'])
    # scale_factor is (w, h) of the whole resize, as mmseg's Resize sets it.
    np.testing.assert_allclose(
        results['scale_factor'],
        (expected[1] / shape[1], expected[0] / shape[0]))
    assert results['keep_ratio'] is True
    # Nearest interpolation: no new label values appear.
    assert set(np.unique(results['gt_seg_map'])) <= set(range(5))


def test_aligned_input_is_left_alone():
    results = _results(512, 1024)
    img = results['img'].copy()
    results = AlignResize(scale=(2048, 512), keep_ratio=True)(results)
    assert results['img_shape'] == (512, 1024)
    np.testing.assert_array_equal(results['img'], img)
    assert results['scale_factor'] == (1.0, 1.0)


def test_resize_not_pad():
    """The aligned image is a resize of the whole picture: a vertical
    gradient stays a gradient over the full height (padding would leave a
    constant band at the bottom)."""
    img = np.repeat(np.linspace(0, 255, 375)[:, None], 500, 1)
    img = np.repeat(img[..., None], 3, 2).astype(np.uint8)
    results = AlignResize(scale=(2048, 512))(dict(img=img))
    out = results['img'][:, :, 0].astype(float)
    assert out.shape == (512, 704)
    assert out[-1].mean() > 250 and out[0].mean() < 5


def test_keep_ratio_false_also_aligns():
    results = AlignResize(scale=(500, 300), keep_ratio=False)(_results(
        375, 500))
    assert results['img_shape'] == (320, 512)
    assert results['keep_ratio'] is False


def test_invalid_size_divisor():
    with pytest.raises(ValueError, match='size_divisor'):
        AlignResize(scale=(2048, 512), size_divisor=0)


@pytest.mark.parametrize('type_name', ['AlignResize', 'mogavision.AlignResize'])
def test_built_from_mmseg_registry_and_packed(type_name):
    from mmseg.registry import TRANSFORMS
    init_default_scope('mmseg')
    pipeline = [
        TRANSFORMS.build(dict(type=type_name, scale=(2048, 512))),
        TRANSFORMS.build(dict(type='PackSegInputs')),
    ]
    results = _results(333, 777)
    for transform in pipeline:
        results = transform(results)
    meta = results['data_samples'].metainfo
    assert tuple(results['inputs'].shape) == (3, 512, 1216)
    assert meta['img_shape'] == (512, 1216)
    assert meta['ori_shape'] == (333, 777)
    assert tuple(results['data_samples'].gt_sem_seg.shape) == (512, 1216)
