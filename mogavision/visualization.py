# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Visualizers fixed for today's numpy."""
import numpy as np
from mmpose.visualization import PoseLocalVisualizer as _MMPosePoseVisualizer

from mogavision.registry import VISUALIZERS, register_in_toolboxes


@VISUALIZERS.register_module()
class PoseLocalVisualizer(_MMPosePoseVisualizer):
    """mmpose's ``PoseLocalVisualizer`` whose OpenCV keypoint drawing works
    with numpy 2: mmpose 1.3 passes the radius as a 1-element array, which
    ``int()`` no longer accepts (``tools/test.py --show-dir`` crashed)."""

    def draw_circles(self, center, radius, *args, **kwargs):
        if self.backend == 'opencv':
            radius = float(np.asarray(radius).reshape(-1)[0])
        return super().draw_circles(center, radius, *args, **kwargs)


register_in_toolboxes(PoseLocalVisualizer, 'VISUALIZERS', scopes=('mmpose', ))
