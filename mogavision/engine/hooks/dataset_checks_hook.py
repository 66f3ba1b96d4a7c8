# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Dataset checks before the first iteration."""
from mmengine.hooks import Hook
from mmengine.runner import BaseLoop

from mogavision.datasets.agreement import check_built_dataset
from mogavision.registry import HOOKS


@HOOKS.register_module()
class DatasetChecksHook(Hook):
    """Runs :func:`~mogavision.datasets.agreement.check_built_dataset` on the
    datasets of the loops a run built (train and val, or test) before the
    first iteration: an empty dataset, classes the heads do not predict, or
    label map values past the classes stop the run with the config key to
    fix, not an index error or a silent wrong metric later."""

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        for split in ('train', 'val', 'test'):
            loop = getattr(runner, f'_{split}_loop', None)
            if isinstance(loop, BaseLoop):
                check_built_dataset(loop.dataloader.dataset, split,
                                    runner.cfg)
