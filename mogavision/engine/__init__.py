from mogavision.registry import register_in_toolboxes

from .hooks import MogaNetDeployHook, RandomStateCheckpointHook
from .optimizers import LayerDecayOptimWrapperConstructor

register_in_toolboxes(LayerDecayOptimWrapperConstructor,
                      'OPTIM_WRAPPER_CONSTRUCTORS')
for _hook in (MogaNetDeployHook, RandomStateCheckpointHook):
    register_in_toolboxes(_hook, 'HOOKS')

__all__ = [
    'LayerDecayOptimWrapperConstructor', 'MogaNetDeployHook',
    'RandomStateCheckpointHook'
]
