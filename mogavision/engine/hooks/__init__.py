from .atomic_checkpoint_hook import AtomicCheckpointHook
from .deploy_hook import MogaNetDeployHook
from .random_state_hook import RandomStateCheckpointHook
from .roi_align_hook import ParallelRoIAlignHook

__all__ = [
    'AtomicCheckpointHook', 'MogaNetDeployHook', 'ParallelRoIAlignHook',
    'RandomStateCheckpointHook'
]
