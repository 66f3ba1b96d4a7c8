from .coco_checks import CheckedCocoDataset, CheckedCocoPoseDataset
from .loading import CheckedLoadImageFromFile, CorruptImageError
from .non_empty import (CheckedCustomDataset, CheckedSegDataset,
                        CheckedXMLDataset)
from .transforms import AlignResize

__all__ = [
    'AlignResize', 'CheckedCocoDataset', 'CheckedCocoPoseDataset',
    'CheckedCustomDataset', 'CheckedLoadImageFromFile', 'CheckedSegDataset',
    'CheckedXMLDataset', 'CorruptImageError'
]
