from .coco_checks import CheckedCocoDataset, CheckedCocoPoseDataset
from .loading import CheckedLoadImageFromFile, CorruptImageError
from .transforms import AlignResize

__all__ = [
    'AlignResize', 'CheckedCocoDataset', 'CheckedCocoPoseDataset',
    'CheckedLoadImageFromFile', 'CorruptImageError'
]
