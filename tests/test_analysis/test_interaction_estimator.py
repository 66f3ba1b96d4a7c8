"""The multi-order interaction estimator against closed forms, on toy value
functions over a small grid of players whose interactions are known."""
import glob
import os.path as osp
import zlib
from math import comb

import numpy as np
import pytest
import torch

from mogavision.analysis.interaction import (
    InteractionSettings, context_masks, count_neighbour_pairs, curves_csv,
    estimate_interactions, interaction_curve, interaction_orders, log_odds,
    masked_log_odds, run_images, sample_contexts, sample_pairs)

GRID = 4
N = GRID * GRID


def test_orders_are_the_papers_ratios_of_n_minus_2():
    assert interaction_orders(196) == [0, 9, 19, 38, 58, 77, 97, 116, 135,
                                       155, 174, 184, 194]
    # A 4x4 grid maps 0 and 0.05 to order 0: it is evaluated once.
    assert interaction_orders(16) == [0, 1, 2, 4, 5, 7, 8, 9, 11, 12, 13, 14]


def test_log_odds_is_the_formula_and_stable():
    logits = torch.randn(5, 7, generator=torch.Generator().manual_seed(0))
    p = logits.double().softmax(1)[:, 3]
    torch.testing.assert_close(log_odds(logits, 3), torch.log(p / (1 - p)))
    confident = torch.tensor([[50., -50., -50.]])
    assert log_odds(confident, 0).item() == pytest.approx(100 - np.log(2))
    with pytest.raises(ValueError, match='label'):
        log_odds(logits, 7)


def test_pairs_are_distinct_neighbours():
    pairs = sample_pairs(GRID, 30, np.random.default_rng(0), radius=2)
    rows, cols = np.divmod(pairs, GRID)
    assert pairs.shape == (30, 2)
    assert (pairs[:, 0] != pairs[:, 1]).all()
    assert (np.abs(rows[:, 0] - rows[:, 1]) <= 2).all()
    assert (np.abs(cols[:, 0] - cols[:, 1]) <= 2).all()
    assert len({tuple(sorted(p)) for p in pairs.tolist()}) == 30
    np.testing.assert_array_equal(
        pairs, sample_pairs(GRID, 30, np.random.default_rng(0)))
    assert count_neighbour_pairs(2) == 6
    with pytest.raises(ValueError, match='only 6 distinct pairs'):
        sample_pairs(2, 7, np.random.default_rng(0))


def test_contexts_are_uniform_subsets_without_the_pair():
    contexts = sample_contexts(N, (3, 7), 5, 4000, np.random.default_rng(1))
    assert contexts.shape == (4000, 5)
    assert not np.isin(contexts, [3, 7]).any()
    assert all(len(set(row)) == 5 for row in contexts.tolist())
    counts = np.bincount(contexts.ravel(), minlength=N)
    others = np.setdiff1d(np.arange(N), [3, 7])
    p = 5 / 14
    z = (counts[others] - 4000 * p) / np.sqrt(4000 * p * (1 - p))
    assert np.abs(z).max() < 4.5


def test_context_masks_are_the_four_sets():
    masks = context_masks(6, (1, 4), np.array([[0, 5], [2, 3]]))
    expected = [[1, 1, 0, 0, 1, 1], [1, 1, 0, 0, 0, 1], [1, 0, 0, 0, 1, 1],
                [1, 0, 0, 0, 0, 1], [0, 1, 1, 1, 1, 0], [0, 1, 1, 1, 0, 0],
                [0, 0, 1, 1, 1, 0], [0, 0, 1, 1, 0, 0]]
    np.testing.assert_array_equal(masks, np.array(expected, dtype=bool))


def test_pairwise_function_has_the_same_interaction_at_every_order():
    rng = np.random.default_rng(1)
    weights = np.triu(rng.normal(size=(N, N)), 1)
    unary = rng.normal(size=N)

    def value_fn(masks):
        m = masks.astype(np.float64)
        return np.einsum('bi,ij,bj->b', m, weights, m) + m @ unary

    pairs = sample_pairs(GRID, 10, np.random.default_rng(0))
    orders = interaction_orders(N)
    result = estimate_interactions(value_fn, N, pairs, orders, 7,
                                   np.random.default_rng(2), batch_size=12)
    expected = weights[pairs.min(1), pairs.max(1)]
    np.testing.assert_allclose(result['interactions'],
                               np.broadcast_to(expected, (len(orders), 10)),
                               atol=1e-12)
    np.testing.assert_allclose(result['stderr'], 0, atol=1e-12)


def _check_within_standard_error(estimate, expected, stderr, num_contexts):
    """Exact where the truth is 0 or 1; elsewhere within 4.5 standard errors
    of a Bernoulli mean, with the z scores of unit spread overall and the
    reported standard errors close to the true ones."""
    estimate, expected = np.asarray(estimate), np.asarray(expected)
    certain = (expected == 0) | (expected == 1)
    np.testing.assert_array_equal(estimate[certain], expected[certain])
    p = expected[~certain]
    true_se = np.sqrt(p * (1 - p) / num_contexts)
    z = (estimate[~certain] - p) / true_se
    assert np.abs(z).max() < 4.5
    assert 0.5 < np.mean(z ** 2) < 1.7
    assert len(z) >= 20
    ratio = np.asarray(stderr)[~certain] / true_se
    assert 0.6 < np.median(ratio) < 1.4


def test_and_of_a_set_gives_the_hypergeometric_probability():
    """f(S) = [T in S]: for i, j in T, df = [T - {i, j} in S], so I_m is
    the probability that a uniform m-subset of N - {i, j} holds the other
    |T| - 2 players; pairs with a player outside T do not interact."""
    T = [5, 6, 9, 10, 11]
    inside = [(a, b) for k, a in enumerate(T) for b in T[k + 1:]]
    outside = [(5, 4), (0, 1), (11, 15), (2, 6)]
    pairs = np.array(inside + outside)
    orders = interaction_orders(N)
    num_contexts = 300

    result = estimate_interactions(
        lambda masks: masks[:, T].all(1).astype(float), N, pairs, orders,
        num_contexts, np.random.default_rng(3), batch_size=64)

    rest = len(T) - 2
    expected = np.zeros((len(orders), len(pairs)))
    for o, m in enumerate(orders):
        if m >= rest:
            expected[o, :len(inside)] = comb(N - 2 - rest, m - rest) / \
                comb(N - 2, m)
    _check_within_standard_error(result['interactions'], expected,
                                 result['stderr'], num_contexts)


def test_interaction_is_averaged_over_contexts_before_the_absolute_value():
    """df(i, j, S) = +1 if player k is in S, else -1: I_m = 2m/(n-2) - 1,
    which vanishes at m = (n - 2) / 2 though every |df| is 1."""
    i, j, k = 0, 1, 9

    def value_fn(masks):
        both = masks[:, i] & masks[:, j]
        return np.where(both, np.where(masks[:, k], 1., -1.), 0.)

    orders = interaction_orders(N)
    num_contexts = 400
    result = estimate_interactions(value_fn, N, np.array([[i, j]]), orders,
                                   num_contexts, np.random.default_rng(4))
    p_k = np.array(orders)[:, None] / (N - 2)
    expected = 2 * p_k - 1
    se = 2 * np.sqrt(p_k * (1 - p_k) / num_contexts)
    assert (np.abs(result['interactions'] - expected) <= 4.5 * se +
            1e-12).all()
    curve = interaction_curve([dict(orders=orders,
                                    interactions=result['interactions'])], N)
    middle = orders.index(7)
    assert curve['raw'][middle] < 0.25  # |mean|, not mean |.| (= 1)


def test_masked_value_function_sets_masked_patches_to_zero():
    inputs = torch.arange(1, 49, dtype=torch.float32).view(1, 2, 4, 6)
    seen = []

    def classifier(x):
        seen.append(x.clone())
        return torch.stack([x.sum((1, 2, 3)), torch.zeros(len(x))], 1)

    value_fn = masked_log_odds(classifier, inputs, 0, grid=2)
    masks = np.array([[True, False, False, True], [False] * 4])
    values = value_fn(masks)
    keep = torch.zeros(4, 6)
    keep[:2, :3] = 1
    keep[2:, 3:] = 1
    torch.testing.assert_close(seen[0][0], inputs[0] * keep)
    assert (seen[0][1] == 0).all()
    # f = logit_0 - logsumexp(logit_1) = the kept sum; logits (0, 0) give 0.
    assert values[0].item() == pytest.approx((inputs * keep).sum().item())
    assert values[1].item() == 0
    with pytest.raises(ValueError, match='at least 8 pixels'):
        masked_log_odds(classifier, inputs, 0, grid=8)


def _toy_value_fn(key):
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    weights, mixing = rng.normal(size=9), rng.normal(size=(9, 9))
    return (lambda masks: np.tanh(masks.astype(float) @ mixing) @ weights), 1


def test_resumed_run_equals_an_uninterrupted_one(tmp_path):
    settings = InteractionSettings(grid=3, num_pairs=4, num_contexts=5, seed=3)
    images = ['a.png', 'sub/b.png', 'c.png']
    identity = dict(model='toy')
    full = run_images(images, _toy_value_fn, str(tmp_path / 'full'),
                      settings, identity, batch_size=8, progress=True)

    def killed_during_c(key):
        value_fn, label = _toy_value_fn(key)
        calls = []

        def dying(masks):
            calls.append(1)
            if key == 'c.png' and len(calls) == 3:
                raise KeyboardInterrupt
            return value_fn(masks)
        return dying, label

    resumed_dir = str(tmp_path / 'resumed')
    with pytest.raises(KeyboardInterrupt):
        run_images(images, killed_during_c, resumed_dir, settings, identity,
                   batch_size=8, progress=False)
    stored = sorted(osp.relpath(p, resumed_dir) for p in glob.glob(
        osp.join(resumed_dir, '**', '*'), recursive=True) if osp.isfile(p))
    assert stored == ['a.png.json', 'sub/b.png.json']

    recomputed = []

    def counting(key):
        recomputed.append(key)
        return _toy_value_fn(key)

    resumed = run_images(images, counting, resumed_dir, settings, identity,
                         batch_size=8, progress=False)
    assert recomputed == ['c.png']
    assert resumed == full
    curve = interaction_curve(resumed, settings.num_players)
    assert np.mean(curve['mean']) == pytest.approx(1.0)
    assert curves_csv({'toy': curve}).count('\n') == 1 + len(settings.orders)

    other = InteractionSettings(grid=3, num_pairs=4, num_contexts=6, seed=3)
    with pytest.raises(ValueError, match='settings'):
        run_images(images, _toy_value_fn, resumed_dir, other, identity,
                   progress=False)
    with pytest.raises(ValueError, match='model'):
        run_images(images, _toy_value_fn, resumed_dir, settings,
                   dict(model='another'), progress=False)


def test_curve_normalises_by_the_mean_over_orders():
    records = [dict(orders=[0, 1], interactions=[[1., -1.], [2., 2.]]),
               dict(orders=[0, 1], interactions=[[3., 3.], [0., 0.]])]
    curve = interaction_curve(records, num_players=4)
    assert curve['ratios'] == [0, 0.25]
    np.testing.assert_allclose(curve['raw'], [2, 1])
    np.testing.assert_allclose(curve['mean'], [4 / 3, 2 / 3])
    np.testing.assert_allclose(curve['std'], [np.sqrt(2) / 1.5] * 2)


def test_batch_size_must_keep_the_four_masks_together():
    with pytest.raises(ValueError, match='multiple of 4'):
        estimate_interactions(lambda m: np.zeros(len(m)), N,
                              np.array([[0, 1]]), [0], 2,
                              np.random.default_rng(0), batch_size=6)
