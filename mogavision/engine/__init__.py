from mogavision.registry import register_in_toolboxes

from .optimizers import LayerDecayOptimWrapperConstructor

register_in_toolboxes(LayerDecayOptimWrapperConstructor,
                      'OPTIM_WRAPPER_CONSTRUCTORS')

__all__ = ['LayerDecayOptimWrapperConstructor']
