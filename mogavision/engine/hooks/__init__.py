from .atomic_checkpoint_hook import AtomicCheckpointHook
from .deploy_hook import MogaNetDeployHook
from .random_state_hook import RandomStateCheckpointHook

__all__ = [
    'AtomicCheckpointHook', 'MogaNetDeployHook', 'RandomStateCheckpointHook'
]
