# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Data transforms of the MogaNet release, as OpenMMLab 2.0 transforms."""
import math
from typing import Tuple

import mmcv
import numpy as np
from mmseg.datasets.transforms import Resize

from mogavision.registry import TRANSFORMS, register_in_toolboxes


def align_size(height: int, width: int, size_divisor: int) -> Tuple[int, int]:
    """Round both sides up to the next multiple of ``size_divisor``.

    Args:
        height (int): Image height.
        width (int): Image width.
        size_divisor (int): The multiple.

    Returns:
        tuple[int, int]: The aligned ``(height, width)``.
    """
    return (int(math.ceil(height / size_divisor)) * size_divisor,
            int(math.ceil(width / size_divisor)) * size_divisor)


@TRANSFORMS.register_module()
class AlignResize(Resize):
    """Resize like mmseg's ``Resize``, then resize (not pad) the result so
    both sides are multiples of ``size_divisor``.

    The test-time resize of the MogaNet segmentation release
    (``segmentation/align_resize.py``): with ``scale=(2048, 512)`` and
    ``keep_ratio=True`` a 375x500 image becomes 512x683 by the keep-ratio
    resize and then 512x704, each side rounded up with
    ``ceil(side / 32) * 32``. ``img_shape``, ``scale_factor`` (the overall
    ratio ``new / original`` per axis) and ``keep_ratio`` are set as mmseg's
    ``Resize`` sets them, so a segmentor maps its prediction back to
    ``ori_shape``; there is no padding (``img_shape`` is the network input).

    Unlike the release, which asserts that a ``keep_ratio=False`` scale is
    already aligned, the alignment is applied in both modes.

    Required Keys:

    - img
    - gt_seg_map (optional, and any key listed in ``seg_fields``)

    Modified Keys:

    - img
    - img_shape
    - gt_seg_map (and the other ``seg_fields``)

    Added Keys:

    - scale
    - scale_factor
    - keep_ratio

    Args:
        scale (int | tuple[int, int], optional): Target scale ``(w, h)``, as
            for ``Resize``. Defaults to None.
        scale_factor (float | tuple[float, float], optional): Scale factor,
            used when ``scale`` is None. Defaults to None.
        keep_ratio (bool): Keep the aspect ratio in the first resize.
            Defaults to True, as the release.
        size_divisor (int): The multiple both sides are resized to.
            Defaults to 32.
        backend (str): ``'cv2'`` or ``'pillow'``. Defaults to ``'cv2'``.
        interpolation (str): Image interpolation; seg maps always use
            ``'nearest'``. Defaults to ``'bilinear'``.
    """

    def __init__(self,
                 scale=None,
                 scale_factor=None,
                 keep_ratio: bool = True,
                 size_divisor: int = 32,
                 backend: str = 'cv2',
                 interpolation: str = 'bilinear') -> None:
        super().__init__(
            scale=scale,
            scale_factor=scale_factor,
            keep_ratio=keep_ratio,
            backend=backend,
            interpolation=interpolation)
        if not isinstance(size_divisor, int) or size_divisor < 1:
            raise ValueError(
                f'size_divisor must be a positive int, got {size_divisor!r}.')
        self.size_divisor = size_divisor

    def _align(self, img: np.ndarray, interpolation: str) -> np.ndarray:
        height, width = align_size(*img.shape[:2], self.size_divisor)
        if (height, width) == img.shape[:2]:
            return img
        return mmcv.imresize(img, (width, height), interpolation=interpolation,
                             backend=self.backend)

    def _resize_img(self, results: dict) -> None:
        if results.get('img', None) is None:
            return
        ori_h, ori_w = results['img'].shape[:2]
        super()._resize_img(results)
        img = self._align(results['img'], self.interpolation)
        new_h, new_w = img.shape[:2]
        results['img'] = img
        results['img_shape'] = (new_h, new_w)
        results['scale_factor'] = (new_w / ori_w, new_h / ori_h)

    def _resize_seg(self, results: dict) -> None:
        super()._resize_seg(results)
        for key in results.get('seg_fields', []):
            if results.get(key, None) is not None:
                results[key] = self._align(results[key], 'nearest')

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(scale={self.scale}, '
                f'scale_factor={self.scale_factor}, '
                f'keep_ratio={self.keep_ratio}, '
                f'size_divisor={self.size_divisor}, '
                f'backend={self.backend}, '
                f'interpolation={self.interpolation})')


register_in_toolboxes(AlignResize, 'TRANSFORMS', scopes=('mmseg', ))
