from .atomic_checkpoint_hook import AtomicCheckpointHook
from .checkpoint_format_hook import CheckpointFormatHook
from .deploy_hook import MogaNetDeployHook
from .random_state_hook import RandomStateCheckpointHook
from .roi_align_hook import ParallelRoIAlignHook

__all__ = [
    'AtomicCheckpointHook', 'CheckpointFormatHook', 'MogaNetDeployHook',
    'ParallelRoIAlignHook', 'RandomStateCheckpointHook'
]
