# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Multi-order interaction strength of an image classifier, the measure of
MogaNet's Sec. 3 (after Deng et al., "Discovering and Explaining the
Representation Bottleneck of DNNs", ICLR 2022).

The players are the ``g x g`` patches of an image; a patch that is not in a
set takes the baseline 0 of the normalised input (the dataset's mean
colour). With ``f(S) = log(p_y / (1 - p_y))`` of class ``y`` on the image
that keeps only the patches ``S``::

    df(i, j, S) = f(S + {i, j}) - f(S + {i}) - f(S + {j}) + f(S)
    I_m(i, j)   = mean of df(i, j, S) over S in N - {i, j} with |S| = m
    J_m         = E_x E_(i,j) |I_m(i, j)|, divided by its mean over the m

The pairs (``i`` uniform, ``j`` a neighbour of ``i`` within ``radius``) and
the contexts ``S`` come from a generator seeded by the seed and the image's
name only: an image's numbers do not depend on the other images, on the
model compared, on the batch split or on an interrupted run.
"""
import csv
import io
import json
import os.path as osp
import sys
import zlib
from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from mogavision.fileio import atomic_write

#: The ratios r of the orders m = int((n - 2) * r), as in the paper.
DEFAULT_RATIOS = (0., .05, .1, .2, .3, .4, .5, .6, .7, .8, .9, .95, 1.)

#: A value function: boolean masks (B, n) of the kept players -> f (B, ).
ValueFn = Callable[[np.ndarray], object]


def interaction_orders(num_players: int,
                       ratios: Sequence[float] = DEFAULT_RATIOS) -> List[int]:
    """The orders ``int((n - 2) * r)`` of the ratios, ascending, each once
    (small grids map several ratios to one order)."""
    if num_players < 2:
        raise ValueError(f'Interactions need at least 2 players, got '
                         f'{num_players}.')
    bad = [r for r in ratios if not 0 <= r <= 1]
    if bad:
        raise ValueError(f'Order ratios must be in [0, 1], got {bad}.')
    return sorted({int((num_players - 2) * r) for r in ratios})


def log_odds(logits: torch.Tensor, label: int) -> torch.Tensor:
    """``log(p / (1 - p))`` of class ``label`` under the softmax of
    ``logits`` (B, K), as ``logit_y - logsumexp(other logits)`` (stable for
    confident predictions), in float64."""
    if logits.dim() != 2 or not 0 <= label < logits.shape[1]:
        raise ValueError(f'Expected logits (B, K) and a label in [0, K), got '
                         f'shape {tuple(logits.shape)} and label {label}.')
    logits = logits.double()
    others = torch.cat([logits[:, :label], logits[:, label + 1:]], 1)
    return logits[:, label] - torch.logsumexp(others, 1)


def _neighbour_offsets(radius: int) -> np.ndarray:
    return np.array([(dr, dc) for dr in range(-radius, radius + 1)
                     for dc in range(-radius, radius + 1) if dr or dc])


def _clamped_neighbour(grid: int, row: int, col: int, offset) -> int:
    row2 = min(max(row + offset[0], 0), grid - 1)
    col2 = min(max(col + offset[1], 0), grid - 1)
    return int(row2 * grid + col2)


def count_neighbour_pairs(grid: int, radius: int = 2) -> int:
    """How many distinct unordered pairs :func:`sample_pairs` can draw."""
    pairs = set()
    for row in range(grid):
        for col in range(grid):
            i = row * grid + col
            for offset in _neighbour_offsets(radius):
                j = _clamped_neighbour(grid, row, col, offset)
                if i != j:
                    pairs.add((min(i, j), max(i, j)))
    return len(pairs)


def sample_pairs(grid: int, num_pairs: int, rng: np.random.Generator,
                 radius: int = 2) -> np.ndarray:
    """Player pairs as in the reference code: ``i`` uniform on the grid,
    ``j = i + offset`` with the offset uniform in ``[-radius, radius]^2``
    minus (0, 0), clamped to the grid; pairs with ``i == j`` or drawn before
    (in either order) are drawn again.

    Returns:
        np.ndarray: ``(num_pairs, 2)`` flat player indices (row-major).
    """
    available = count_neighbour_pairs(grid, radius)
    if num_pairs > available:
        raise ValueError(
            f'{num_pairs} pairs asked for, but a {grid}x{grid} grid has only '
            f'{available} distinct pairs within distance {radius}; use '
            f'--pairs {available} or a larger --grid.')
    offsets = _neighbour_offsets(radius)
    pairs, seen = [], set()
    while len(pairs) < num_pairs:
        row, col = (int(v) for v in rng.integers(grid, size=2))
        j = _clamped_neighbour(grid, row, col,
                               offsets[rng.integers(len(offsets))])
        i = row * grid + col
        key = (min(i, j), max(i, j))
        if i == j or key in seen:
            continue
        seen.add(key)
        pairs.append((i, j))
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def sample_contexts(num_players: int, pair: Sequence[int], order: int,
                    num_contexts: int,
                    rng: np.random.Generator) -> np.ndarray:
    """``num_contexts`` independent uniform subsets ``S`` of the players
    other than ``pair``, each of ``order`` distinct players.

    Returns:
        np.ndarray: ``(num_contexts, order)`` player indices.
    """
    others = np.setdiff1d(np.arange(num_players), np.asarray(pair))
    if not 0 <= order <= len(others):
        raise ValueError(f'Order {order} is outside [0, {len(others)}] for '
                         f'{num_players} players.')
    # The first `order` entries of a uniform random permutation.
    keys = rng.random((num_contexts, len(others)))
    return others[np.argsort(keys, axis=1)[:, :order]]


def context_masks(num_players: int, pair: Sequence[int],
                  contexts: np.ndarray) -> np.ndarray:
    """The four player sets of every context, ``S + {i, j}``, ``S + {i}``,
    ``S + {j}`` and ``S``, as consecutive rows of a boolean mask.

    Returns:
        np.ndarray: ``(4 * len(contexts), num_players)`` bool.
    """
    i, j = (int(p) for p in pair)
    base = np.zeros((len(contexts), num_players), dtype=bool)
    if contexts.shape[1]:
        np.put_along_axis(base, contexts, True, axis=1)
    masks = np.repeat(base[:, None], 4, axis=1)
    masks[:, 0, [i, j]] = True
    masks[:, 1, i] = True
    masks[:, 2, j] = True
    return masks.reshape(-1, num_players)


def _as_numpy(values) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().double().numpy()
    return np.asarray(values, dtype=np.float64).reshape(-1)


def estimate_interactions(value_fn: ValueFn,
                          num_players: int,
                          pairs: np.ndarray,
                          orders: Sequence[int],
                          num_contexts: int,
                          rng: np.random.Generator,
                          batch_size: int = 128,
                          on_batch: Callable[[int], None] = None
                          ) -> Dict[str, np.ndarray]:
    """Sampled ``I_m(i, j)`` for every order and pair.

    The masks of each order are evaluated ``batch_size`` at a time; the four
    sets of a context always share a batch.

    Args:
        value_fn (callable): Boolean masks ``(B, n)`` -> ``f`` ``(B, )``.
        num_players (int): ``n``.
        pairs (np.ndarray): ``(P, 2)`` player pairs.
        orders (Sequence[int]): Orders ``m``.
        num_contexts (int): Contexts per pair and order.
        rng (np.random.Generator): Draws the contexts.
        batch_size (int): Masks per ``value_fn`` call, a multiple of 4.
        on_batch (callable, optional): Called with the number of masks
            after each call (progress).

    Returns:
        dict: ``interactions`` and ``stderr`` (standard error of the mean
        over contexts; NaN for one context), each ``(len(orders), P)``.
    """
    if batch_size < 4 or batch_size % 4:
        raise ValueError(f'The batch size counts masked images and must be a '
                         f'positive multiple of 4 (the four sets of a '
                         f'context go together), got {batch_size}.')
    if num_contexts < 1:
        raise ValueError(f'Need at least one context, got {num_contexts}.')
    shape = (len(orders), len(pairs))
    means, stderrs = np.zeros(shape), np.full(shape, np.nan)
    for o, order in enumerate(orders):
        masks = np.concatenate([
            context_masks(num_players, pair,
                          sample_contexts(num_players, pair, order,
                                          num_contexts, rng))
            for pair in pairs])
        values = np.empty(len(masks))
        for start in range(0, len(masks), batch_size):
            chunk = masks[start:start + batch_size]
            out = _as_numpy(value_fn(chunk))
            if out.shape != (len(chunk), ):
                raise ValueError(f'The value function returned {out.shape} '
                                 f'values for {len(chunk)} masks.')
            values[start:start + len(chunk)] = out
            if on_batch is not None:
                on_batch(len(chunk))
        f = values.reshape(len(pairs), num_contexts, 4)
        delta = f[..., 0] - f[..., 1] - f[..., 2] + f[..., 3]
        means[o] = delta.mean(1)
        if num_contexts > 1:
            stderrs[o] = delta.std(1, ddof=1) / np.sqrt(num_contexts)
    return dict(interactions=means, stderr=stderrs)


def masked_log_odds(classifier: Callable[[torch.Tensor], torch.Tensor],
                    inputs: torch.Tensor, label: int, grid: int) -> ValueFn:
    """The value function of one image: the players' masks upsampled
    (nearest) to the input, masked pixels set to 0 (the baseline of the
    normalised input), ``f`` = :func:`log_odds` of ``label``.

    Args:
        classifier (callable): ``(B, C, H, W)`` -> logits ``(B, K)``.
        inputs (torch.Tensor): The normalised image ``(1, C, H, W)``.
        label (int): Class ``y``.
        grid (int): ``g``: the players are ``g x g`` patches.
    """
    height, width = inputs.shape[-2:]
    if height < grid or width < grid:
        raise ValueError(f'A {grid}x{grid} grid of patches needs inputs of at '
                         f'least {grid} pixels a side, got {height}x{width}.')

    def value_fn(masks: np.ndarray) -> torch.Tensor:
        keep = torch.from_numpy(np.ascontiguousarray(masks)).to(
            device=inputs.device, dtype=inputs.dtype)
        keep = F.interpolate(keep.view(-1, 1, grid, grid),
                             size=(height, width), mode='nearest')
        with torch.inference_mode():
            return log_odds(classifier(inputs * keep), label)

    return value_fn


@dataclass(frozen=True)
class InteractionSettings:
    """What decides the sampled numbers (stored with every result).

    Args:
        grid (int): ``g``; ``n = g * g`` players. Defaults to 14.
        num_pairs (int): Pairs per image. Defaults to 50.
        num_contexts (int): Contexts per pair and order. Defaults to 50.
        seed (int): Seed. Defaults to 0.
        radius (int): Largest row/column distance of a pair. Defaults to 2.
        ratios (tuple): Order ratios. Defaults to :data:`DEFAULT_RATIOS`.
    """
    grid: int = 14
    num_pairs: int = 50
    num_contexts: int = 50
    seed: int = 0
    radius: int = 2
    ratios: Tuple[float, ...] = DEFAULT_RATIOS

    @property
    def num_players(self) -> int:
        return self.grid * self.grid

    @property
    def orders(self) -> List[int]:
        return interaction_orders(self.num_players, self.ratios)

    @property
    def masks_per_image(self) -> int:
        return len(self.orders) * self.num_pairs * self.num_contexts * 4

    def check(self):
        """Fail on settings that cannot be sampled, before any model runs."""
        if self.grid < 2:
            raise ValueError(f'--grid must be at least 2, got {self.grid}.')
        if self.num_pairs < 1 or self.num_contexts < 1:
            raise ValueError('--pairs and --contexts must be positive.')
        available = count_neighbour_pairs(self.grid, self.radius)
        if self.num_pairs > available:
            raise ValueError(
                f'--pairs {self.num_pairs}: a {self.grid}x{self.grid} grid '
                f'has only {available} distinct pairs within distance '
                f'{self.radius}.')
        self.orders  # noqa: B018  (validates the ratios)

    def as_dict(self) -> dict:
        settings = asdict(self)
        settings['ratios'] = list(self.ratios)
        return settings


def image_rng(seed: int, key: str) -> np.random.Generator:
    """The generator of one image: seeded by ``seed`` and its name."""
    return np.random.default_rng([seed, zlib.crc32(key.encode())])


def image_interactions(value_fn: ValueFn, key: str,
                       settings: InteractionSettings, batch_size: int = 128,
                       on_batch: Callable[[int], None] = None) -> dict:
    """Pairs, then ``I_m(i, j)`` of one image (see
    :func:`estimate_interactions`), as lists for JSON."""
    rng = image_rng(settings.seed, key)
    pairs = sample_pairs(settings.grid, settings.num_pairs, rng,
                         settings.radius)
    result = estimate_interactions(value_fn, settings.num_players, pairs,
                                   settings.orders, settings.num_contexts,
                                   rng, batch_size, on_batch)
    return dict(orders=settings.orders, pairs=pairs.tolist(),
                interactions=result['interactions'].tolist(),
                stderr=result['stderr'].tolist())


def result_path(result_dir: str, key: str) -> str:
    """Where the result of image ``key`` (a relative path) is stored."""
    return osp.join(result_dir, key + '.json')


def run_images(images: Sequence[str],
               make_value_fn: Callable[[str], Tuple[ValueFn, int]],
               result_dir: str,
               settings: InteractionSettings,
               identity: dict,
               batch_size: int = 128,
               progress: bool = True) -> List[dict]:
    """Interactions of every image, each stored (atomically) in
    ``result_dir`` as soon as it is done; images already stored there are
    read instead of recomputed, so an interrupted run resumes where it
    stopped.

    Args:
        images (Sequence[str]): Image names (relative paths).
        make_value_fn (callable): ``name -> (value_fn, label)``.
        result_dir (str): Folder of the per-image results.
        settings (InteractionSettings): The sampling settings.
        identity (dict): What else decides the results (model, weights,
            label source); a stored result made with another identity or
            other settings is an error, never mixed in.
        batch_size (int): Masked images per forward.
        progress (bool): Show a progress bar with an ETA.

    Returns:
        list[dict]: One record per image, in order of ``images``.
    """
    settings.check()
    records, todo = {}, []
    for key in images:
        expected = dict(identity, settings=settings.as_dict(), image=key)
        path = result_path(result_dir, key)
        if not osp.isfile(path):
            todo.append(key)
            continue
        with open(path) as f:
            record = json.load(f)
        if record.get('fingerprint') != json.loads(json.dumps(expected)):
            stored = record.get('fingerprint') or {}
            differ = sorted(k for k in set(stored) | set(expected)
                            if stored.get(k) != expected.get(k))
            raise ValueError(
                f'{path} was computed with other {", ".join(differ)} than '
                'this run; use another --out-dir, or delete '
                f'{result_dir} to recompute.')
        records[key] = record
    if len(todo) < len(images):
        print(f'resuming: {len(images) - len(todo)} of {len(images)} images '
              f'already done in {result_dir}')
    bar = None
    if progress and todo:
        from mmengine.utils import ProgressBar
        bar = ProgressBar(len(todo) * settings.masks_per_image,
                          file=sys.stdout)
    for key in todo:
        value_fn, label = make_value_fn(key)
        result = image_interactions(value_fn, key, settings, batch_size,
                                    bar.update if bar else None)
        record = dict(fingerprint=dict(identity, settings=settings.as_dict(),
                                       image=key),
                      label=int(label), **result)
        atomic_write(json.dumps(record), result_path(result_dir, key))
        records[key] = record
    if bar is not None:
        bar.file.write('\n')
    return [records[key] for key in images]


def interaction_curve(records: Sequence[dict], num_players: int) -> dict:
    """``J_m`` over images from per-image records.

    Per image, the strength of order ``m`` is the mean of ``|I_m(i, j)|``
    over its pairs; ``J_m`` is the mean over images divided by its mean
    over the orders, and ``std`` the spread over images (sample standard
    deviation, 0 for one image) on the same scale.

    Returns:
        dict: ``orders``, ``ratios`` (``m / n``), ``mean``, ``std``,
        ``raw`` (before normalising) and ``num_images``.
    """
    if not records:
        raise ValueError('No image results to summarise.')
    orders = records[0]['orders']
    if any(r['orders'] != orders for r in records):
        raise ValueError('The image results have different orders.')
    strengths = np.array([np.abs(np.asarray(r['interactions'])).mean(1)
                          for r in records])
    raw = strengths.mean(0)
    scale = raw.mean()
    if not scale > 0:
        scale = np.nan  # no interaction at all: J is undefined
    std = strengths.std(0, ddof=1) if len(records) > 1 else \
        np.zeros_like(raw)
    return dict(orders=list(orders),
                ratios=[m / num_players for m in orders],
                mean=(raw / scale).tolist(), std=(std / scale).tolist(),
                raw=raw.tolist(), num_images=len(records))


def curves_csv(curves: Dict[str, dict]) -> str:
    """CSV text, one row per model and order: ``model, order, m_over_n,
    J_mean, J_std, images``."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator='\n')
    writer.writerow(['model', 'order', 'm_over_n', 'J_mean', 'J_std',
                     'images'])
    for name, curve in curves.items():
        for m, ratio, mean, std in zip(curve['orders'], curve['ratios'],
                                       curve['mean'], curve['std']):
            writer.writerow([name, m, f'{ratio:.6f}', f'{mean:.6f}',
                             f'{std:.6f}', curve['num_images']])
    return text.getvalue()
