"""CheckedLoadImageFromFile: same results as mmcv's loader for good files,
a clear error naming the file for bad ones."""
import cv2
import numpy as np
import pytest
from mmcv.transforms import LoadImageFromFile
from mmpose.datasets.transforms import LoadImage

from mogavision.datasets import CheckedLoadImageFromFile, CorruptImageError
from mogavision.datasets.loading import encoded_image_problem


@pytest.fixture
def image():
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)


def write(path, image):
    assert cv2.imwrite(str(path), image)
    return str(path)


def cut(path, keep=0.6):
    data = open(path, 'rb').read()
    with open(path, 'wb') as f:
        f.write(data[:int(len(data) * keep)])
    return path


@pytest.mark.parametrize('ext', ['jpg', 'png'])
@pytest.mark.parametrize('options', [{}, dict(to_float32=True),
                                     dict(color_type='grayscale')])
def test_good_files_load_as_mmcv_loads_them(tmp_path, image, ext, options):
    path = write(tmp_path / f'a.{ext}', image)
    ours = CheckedLoadImageFromFile(**options)(dict(img_path=path))
    theirs = LoadImageFromFile(**options)(dict(img_path=path))
    assert ours.keys() == theirs.keys()
    np.testing.assert_array_equal(ours['img'], theirs['img'])
    assert ours['img'].dtype == theirs['img'].dtype
    assert ours['img_shape'] == theirs['img_shape'] == (48, 64)


@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
@pytest.mark.parametrize('ext, problem', [('jpg', 'truncated JPEG'),
                                          ('png', 'truncated PNG')])
def test_truncated_files_are_refused(tmp_path, image, ext, problem, backend):
    path = cut(write(tmp_path / f'a.{ext}', image))
    with pytest.raises(CorruptImageError, match=f'{path}: {problem}'):
        CheckedLoadImageFromFile(imdecode_backend=backend)(
            dict(img_path=path))


def test_empty_garbage_and_missing_files(tmp_path):
    empty = tmp_path / 'empty.jpg'
    empty.write_bytes(b'')
    with pytest.raises(CorruptImageError, match=f'{empty}: the file is empty'):
        CheckedLoadImageFromFile()(dict(img_path=str(empty)))
    garbage = tmp_path / 'garbage.jpg'
    garbage.write_bytes(b'not an image at all')
    with pytest.raises(CorruptImageError, match=f'{garbage}: cannot be decoded'):
        CheckedLoadImageFromFile()(dict(img_path=str(garbage)))
    missing = tmp_path / 'missing.jpg'
    with pytest.raises(FileNotFoundError, match=f'Image not found: {missing}'):
        CheckedLoadImageFromFile()(dict(img_path=str(missing)))
    assert CheckedLoadImageFromFile(ignore_empty=True)(
        dict(img_path=str(garbage))) is None


def test_markers_after_the_end_are_fine(tmp_path, image):
    path = write(tmp_path / 'a.jpg', image)
    data = open(path, 'rb').read()
    assert encoded_image_problem(data) is None
    assert encoded_image_problem(data + b'\0' * 16) is None  # padded files
    assert encoded_image_problem(data[:-2]) is not None


def test_stands_in_for_mmpose_load_image(image):
    given = dict(img=image.copy())
    ours = CheckedLoadImageFromFile()(dict(given))
    theirs = LoadImage()(dict(given))
    assert ours.keys() == theirs.keys()
    np.testing.assert_array_equal(ours['img'], theirs['img'])
    assert ours['img_shape'] == theirs['img_shape']
