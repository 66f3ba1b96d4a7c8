# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Swap mmcv's RoIAlign for :class:`mogavision.ops.ParallelRoIAlign`."""
from mmengine.hooks import Hook
from mmengine.logging import print_log

from mogavision.ops import use_parallel_roi_align
from mogavision.registry import HOOKS


@HOOKS.register_module()
class ParallelRoIAlignHook(Hook):
    """Before a run, turns every mmcv ``RoIAlign`` of the model into a
    :class:`~mogavision.ops.ParallelRoIAlign`: the same results, correct for
    channels-last feature maps (mmcv's kernels are not) and parallel on CPU.
    ``tools/train.py`` and ``tools/test.py`` add it to models with RoI heads.
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        changed = use_parallel_roi_align(runner.model)
        if changed:
            print_log(f'RoIAlign -> mogavision ParallelRoIAlign in {changed} '
                      'RoI layers (channels-last safe, parallel on CPU).',
                      logger='current')
