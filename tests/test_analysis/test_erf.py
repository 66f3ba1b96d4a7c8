"""Effective receptive field: exact on a single 3x3 conv, RepLKNet's area
ratios on maps with known shares, stage selection on a backbone."""
import numpy as np
import pytest
import torch
import torch.nn as nn

from mogavision.analysis.erf import (area_ratios, erf_map, layer_features,
                                     log_normalise, stage_features)


def _inputs(count, shape, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(1, 3, *shape, generator=generator)
            for _ in range(count)]


def test_erf_of_one_3x3_conv_is_exactly_the_3x3_square():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 5, 3, padding=1)
    contribution, count = erf_map(conv, _inputs(3, (15, 17)))
    assert count == 3 and contribution.shape == (15, 17)
    support = np.zeros((15, 17), bool)
    support[6:9, 7:10] = True  # centred on (15 // 2, 17 // 2)
    np.testing.assert_array_equal(contribution > 0, support)
    rows = area_ratios(log_normalise(contribution))
    assert rows == [(t, 3, 9 / (15 * 17)) for t in (0.2, 0.3, 0.5, 0.99)]


def test_positive_gradients_are_a_part_of_the_absolute_ones():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 5, padding=2)
    absolute, _ = erf_map(conv, _inputs(2, (9, 9)), 'abs')
    positive, _ = erf_map(conv, _inputs(2, (9, 9)), 'positive')
    assert (positive <= absolute + 1e-12).all()
    assert positive.sum() < absolute.sum()
    with pytest.raises(ValueError, match='abs'):
        erf_map(conv, _inputs(1, (9, 9)), 'square')


def test_area_ratios_of_a_flat_square():
    data = np.zeros((11, 11))
    data[3:8, 3:8] = 1  # a 5x5 square: the centred 3x3 holds 9/25 = 36 %
    assert area_ratios(data) == [(0.2, 3, 9 / 121), (0.3, 3, 9 / 121),
                                 (0.5, 5, 25 / 121), (0.99, 5, 25 / 121)]
    flat = np.ones((4, 6))  # past the border the square is clipped
    assert area_ratios(flat, [0.99])[-1] == (0.99, 7, 1.0)
    with pytest.raises(ValueError, match='all zero'):
        area_ratios(np.zeros((5, 5)))


def test_log_normalise_rescales_to_one():
    data = log_normalise(np.array([[0., 9., 99.]]))
    np.testing.assert_allclose(data, [[0, 0.5, 1]])


class FourStages(nn.Module):
    """A backbone in the OpenMMLab manner: ``out_indices``, one stride-2
    3x3 conv per stage."""
    num_stages = 4

    def __init__(self):
        super().__init__()
        self.out_indices = (3, )
        self.stages = nn.ModuleList(
            nn.Conv2d(3 if i == 0 else 4, 4, 3, stride=2, padding=1)
            for i in range(4))

    def forward(self, x):
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)


def test_stage_and_layer_features():
    backbone = FourStages()
    x = torch.randn(1, 3, 32, 32)
    assert stage_features(backbone)(x).shape == (1, 4, 2, 2)
    assert stage_features(backbone, 2)(x).shape == (1, 4, 8, 8)
    assert backbone.out_indices == (3, )
    torch.testing.assert_close(
        layer_features(backbone, backbone.stages[1], 'stages.1')(x),
        stage_features(backbone, 2)(x))
    with pytest.raises(ValueError, match='1..4'):
        stage_features(backbone, 5)
    # The receptive field grows with the stage.
    small, _ = erf_map(stage_features(backbone, 1), [x])
    large, _ = erf_map(stage_features(backbone, 3), [x])
    assert (small > 0).sum() < (large > 0).sum()
