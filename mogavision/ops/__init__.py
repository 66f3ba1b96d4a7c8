from .roi_align import ParallelRoIAlign, use_parallel_roi_align

__all__ = ['ParallelRoIAlign', 'use_parallel_roi_align']
