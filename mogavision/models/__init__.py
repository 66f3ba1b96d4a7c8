from mogavision.registry import register_in_toolboxes

from .backbones import MogaNet

register_in_toolboxes(MogaNet, 'MODELS')

__all__ = ['MogaNet']
