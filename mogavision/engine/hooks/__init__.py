from .deploy_hook import MogaNetDeployHook
from .random_state_hook import RandomStateCheckpointHook

__all__ = ['MogaNetDeployHook', 'RandomStateCheckpointHook']
