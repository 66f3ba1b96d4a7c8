from .atomic_checkpoint_hook import AtomicCheckpointHook
from .checkpoint_format_hook import CheckpointFormatHook
from .dataset_checks_hook import DatasetChecksHook
from .deploy_hook import MogaNetDeployHook
from .invalid_loss_hook import InvalidLossError, StopOnInvalidLossHook
from .random_state_hook import RandomStateCheckpointHook
from .roi_align_hook import ParallelRoIAlignHook

__all__ = [
    'AtomicCheckpointHook', 'CheckpointFormatHook', 'DatasetChecksHook',
    'InvalidLossError', 'MogaNetDeployHook', 'ParallelRoIAlignHook',
    'RandomStateCheckpointHook', 'StopOnInvalidLossHook'
]
