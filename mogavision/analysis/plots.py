# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Pictures of the analysis tools, drawn with matplotlib's object API (no
global pyplot state, no display needed) and written atomically."""
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from mogavision.fileio import atomic_output


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure, path: str, dpi: int = 100):
    """Write ``figure`` to ``path`` (format from its extension)."""
    fmt = osp.splitext(path)[1].lstrip('.').lower() or 'png'
    with atomic_output(path) as partial:
        figure.savefig(partial, format=fmt, dpi=dpi, bbox_inches='tight')


def plot_interaction_curves(curves: Dict[str, dict], path: str,
                            title: Optional[str] = None):
    """``J_m`` against ``m / n``, one curve per model with the standard
    error of its mean over images shaded, in the style of the MogaNet
    paper's Fig. 3.

    Args:
        curves (dict): Model name -> :func:`interaction_curve` result.
        path (str): Output picture.
        title (str, optional): Figure title.
    """
    figure = _figure(5.2, 3.6)
    axes = figure.add_subplot()
    for name, curve in curves.items():
        ratios = np.asarray(curve['ratios'])
        mean = np.asarray(curve['mean'])
        error = np.asarray(curve['std']) / np.sqrt(curve['num_images'])
        line, = axes.plot(ratios, mean, marker='o', markersize=4,
                          linewidth=1.6, label=name)
        axes.fill_between(ratios, mean - error, mean + error,
                          color=line.get_color(), alpha=0.15, linewidth=0)
    axes.set_xlim(0, 1)
    axes.set_xlabel('order  m / n')
    axes.set_ylabel('interaction strength  $J^{(m)}$')
    axes.grid(alpha=0.3)
    axes.legend(frameon=False, title='shaded: ±1 s.e. over images',
                title_fontsize=8)
    if title:
        axes.set_title(title)
    save_figure(figure, path)


def plot_erf(data: np.ndarray, path: str, title: Optional[str] = None,
             ratios: Sequence[Tuple[float, int, float]] = ()):
    """The effective receptive field as RepLKNet draws it: the
    log-scaled, max-normalised contribution map in ``RdYlGn``.

    Args:
        data (np.ndarray): Map in [0, 1], ``(H, W)``.
        path (str): Output picture.
        title (str, optional): Figure title.
        ratios (Sequence): ``(threshold, side, area ratio)`` rows printed
            under the map.
    """
    height, width = data.shape
    side = 4.2
    figure = _figure(side * min(1.6, max(0.6, width / height)) + 0.8, side)
    axes = figure.add_subplot()
    image = axes.imshow(data, cmap='RdYlGn', vmin=0, vmax=1,
                        interpolation='nearest')
    axes.set_xticks([])
    axes.set_yticks([])
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    if title:
        axes.set_title(title, fontsize=10)
    if ratios:
        axes.set_xlabel('area ratio: ' + ', '.join(
            f'{100 * t:.0f}% in {r:.4f}' for t, _, r in ratios), fontsize=8)
    save_figure(figure, path)
