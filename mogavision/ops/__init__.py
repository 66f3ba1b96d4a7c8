from .roi_align import (ParallelRoIAlign, mmcv_roi_align_layers,
                        use_parallel_roi_align)

__all__ = ['ParallelRoIAlign', 'mmcv_roi_align_layers', 'use_parallel_roi_align']
