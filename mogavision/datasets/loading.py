# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Image loading that refuses unreadable, empty and truncated files.

A file cut short by a failed copy is caught from its end markers, before
decoding, so every decoder gives the same error naming the file and the
cause: OpenCV 4 decodes a truncated JPEG without an error (the missing rows
come out grey); OpenCV 5 returns None, which mmcv reports only as a bare
``assert`` (gone under ``python -O``); Pillow raises an ``OSError`` without
the file name.
"""
from typing import Optional

import mmcv
import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmengine import fileio

from mogavision.registry import TRANSFORMS, register_in_toolboxes

_JPEG_START = b'\xff\xd8'
_JPEG_SCAN = b'\xff\xda'
_JPEG_END = b'\xff\xd9'
_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
_PNG_END_CHUNK = b'\x00\x00\x00\x00IEND\xaeB`\x82'


class CorruptImageError(ValueError):
    """An image file that cannot be read or decoded completely."""


def encoded_image_problem(data: bytes) -> Optional[str]:
    """What is wrong with the bytes of an encoded image, or None.

    Args:
        data (bytes): The file's contents.

    Returns:
        str | None: A short description (``'the file is empty'``,
        ``'truncated JPEG ...'``, ``'truncated PNG ...'``) or None.
    """
    if not data:
        return 'the file is empty'
    if data.startswith(_JPEG_START):
        # Entropy-coded data never contains 0xFFD9 (0xFF is byte-stuffed),
        # so a complete file has the end marker after its last scan header.
        last_scan = data.rfind(_JPEG_SCAN)
        if last_scan < 0 or data.find(_JPEG_END, last_scan) < 0:
            return 'truncated JPEG (no end-of-image marker after the last scan)'
    elif data.startswith(_PNG_SIGNATURE) and _PNG_END_CHUNK not in data:
        return 'truncated PNG (no IEND chunk)'
    return None


@TRANSFORMS.register_module()
class CheckedLoadImageFromFile(LoadImageFromFile):
    """mmcv's ``LoadImageFromFile`` (same arguments and results) that raises
    :class:`CorruptImageError` naming the file when it is empty, truncated or
    not decodable, and ``FileNotFoundError`` when it is missing.

    It also stands in for mmpose's ``LoadImage``: an image already given in
    ``results['img']`` (inference on arrays) is used as it is.
    ``tools/train.py`` and ``tools/test.py`` put it in place of both.
    With ``ignore_empty=True`` a bad file gives None instead of an error, as
    in mmcv.
    """

    def transform(self, results: dict) -> Optional[dict]:
        if results.get('img') is not None:
            img = results['img']
            results.setdefault('img_path', None)
        else:
            img = self._load(results['img_path'])
            if img is None:
                return None
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def _load(self, filename: str) -> Optional[np.ndarray]:
        try:
            if self.file_client_args is not None:
                data = self.file_client.get(filename)
            else:
                data = fileio.get(filename, backend_args=self.backend_args)
        except FileNotFoundError as exc:
            if self.ignore_empty:
                return None
            raise FileNotFoundError(
                f'Image not found: {filename}. Check the data root and '
                'data_prefix of the dataset, or remove the image from the '
                'annotation file.') from exc
        problem = encoded_image_problem(data)
        img = None
        if problem is None:
            try:
                img = mmcv.imfrombytes(data, flag=self.color_type,
                                       backend=self.imdecode_backend)
            except Exception as exc:  # decoders raise assorted types
                problem = f'cannot be decoded ({exc})'
            if img is None and problem is None:
                problem = 'cannot be decoded as an image'
        if problem is None:
            return img
        if self.ignore_empty:
            return None
        raise CorruptImageError(
            f'{filename}: {problem}. Replace the file with a complete copy, '
            'or remove it from the annotation file.')


register_in_toolboxes(CheckedLoadImageFromFile, 'TRANSFORMS')
