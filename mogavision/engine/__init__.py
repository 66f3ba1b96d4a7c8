from mogavision.registry import register_in_toolboxes

from .hooks import (AtomicCheckpointHook, MogaNetDeployHook,
                    ParallelRoIAlignHook, RandomStateCheckpointHook)
from .optimizers import LayerDecayOptimWrapperConstructor

register_in_toolboxes(LayerDecayOptimWrapperConstructor,
                      'OPTIM_WRAPPER_CONSTRUCTORS')
for _hook in (AtomicCheckpointHook, MogaNetDeployHook, ParallelRoIAlignHook,
              RandomStateCheckpointHook):
    register_in_toolboxes(_hook, 'HOOKS')

__all__ = [
    'AtomicCheckpointHook', 'LayerDecayOptimWrapperConstructor', 'MogaNetDeployHook',
    'ParallelRoIAlignHook', 'RandomStateCheckpointHook'
]
