from mogavision.registry import register_in_toolboxes

from .hooks import (AtomicCheckpointHook, CheckpointFormatHook,
                    MogaNetDeployHook, ParallelRoIAlignHook,
                    RandomStateCheckpointHook)
from .optimizers import LayerDecayOptimWrapperConstructor
from .schedulers import TimmCosineLR

register_in_toolboxes(LayerDecayOptimWrapperConstructor,
                      'OPTIM_WRAPPER_CONSTRUCTORS')
register_in_toolboxes(TimmCosineLR, 'PARAM_SCHEDULERS')
for _hook in (AtomicCheckpointHook, CheckpointFormatHook, MogaNetDeployHook,
              ParallelRoIAlignHook, RandomStateCheckpointHook):
    register_in_toolboxes(_hook, 'HOOKS')

__all__ = [
    'AtomicCheckpointHook', 'CheckpointFormatHook',
    'LayerDecayOptimWrapperConstructor', 'MogaNetDeployHook',
    'ParallelRoIAlignHook', 'RandomStateCheckpointHook', 'TimmCosineLR'
]
