# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""How far apart two sets of outputs are: the one measure of the export
checks, the deployment tests and the benchmark's parity column."""
from typing import Dict, Hashable

import numpy as np


def output_diffs(expected: Dict[Hashable, np.ndarray],
                 actual: Dict[Hashable, np.ndarray],
                 relative: bool = False) -> Dict[Hashable, float]:
    """Max |difference| per output of ``actual`` from ``expected``, in
    float64.

    Args:
        expected (dict): Reference outputs by name (e.g. PyTorch's).
        actual (dict): Outputs of the same names (e.g. a runtime's).
        relative (bool): Divide by the output's largest magnitude where that
            exceeds 1: deep random networks reach |x| ~ 100, where float
            rounding alone is ~1e-5.

    Raises:
        ValueError: an output of another shape, or missing from ``actual``
            (naming it and both shapes).
    """
    diffs = {}
    for name, value in expected.items():
        if name not in actual:
            raise ValueError(f'Output {name!r} is missing (outputs: '
                             f'{sorted(map(str, actual))})')
        got = np.asarray(actual[name])
        if got.shape != value.shape:
            raise ValueError(f'Output {name!r}: runtime shape {got.shape} != '
                             f'PyTorch shape {value.shape}')
        if not value.size:
            diffs[name] = 0.
            continue
        want = value.astype(np.float64)
        diff = float(np.abs(got.astype(np.float64) - want).max())
        diffs[name] = diff / max(1., float(np.abs(want).max())) \
            if relative else diff
    return diffs
