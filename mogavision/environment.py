# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Checks that the installed OpenMMLab stack is one mogavision works with."""
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

from packaging.version import Version

#: distribution name -> (minimum inclusive, maximum exclusive)
SUPPORTED = {
    'torch': ('2.1.0', '3.0.0'),
    'mmengine': ('0.10.0', '0.11.0'),
    'mmcv': ('2.1.0', '2.2.0'),
    'mmdet': ('3.3.0', '3.4.0'),
    'mmsegmentation': ('1.2.2', '1.3.0'),
    'mmpose': ('1.3.0', '1.4.0'),
    'mmpretrain': ('1.2.0', '1.3.0'),
}
#: OpenCV major series: (minimum inclusive, maximum exclusive). OpenCV 5's
#: ``cv2.warpAffine`` gives other pixels than every 4.x for the same matrix
#: (4.10, which the release's 1.x runs used, and 4.14 give identical bytes),
#: which moves top-down pose inputs and so keypoints (up to 289 px on the
#: reference photos). Checked on the imported ``cv2``, whichever
#: distribution (opencv-python, -headless, -contrib) provides it.
OPENCV = ('4.10.0', '5.0.0')
OPENCV_PIN = 'opencv-python==4.14.0.94'
SETUP_HINT = 'Run `make setup` (tools/setup_env.sh) to install the supported stack.'


class UnsupportedEnvironmentError(ImportError):
    """The installed packages are not ones mogavision supports."""


def _problems():
    problems = []
    for dist, (low, high) in SUPPORTED.items():
        try:
            installed = version(dist)
        except PackageNotFoundError:
            problems.append(f'{dist} is not installed (need >={low},<{high})')
            continue
        base = Version(Version(installed).base_version)
        if not Version(low) <= base < Version(high):
            problems.append(
                f'{dist} {installed} is out of range (need >={low},<{high})')
    problems += _opencv_problems()
    if not any(p.startswith('mmcv ') for p in problems):
        try:
            import_module('mmcv._ext')
        except ImportError as exc:
            problems.append(
                f'mmcv is installed without its compiled ops ({exc}); '
                'rebuild it with MMCV_WITH_OPS=1')
    return problems


def _opencv_problems():
    try:
        import cv2
    except ImportError as exc:
        return [f'OpenCV (cv2) does not import ({exc}); install {OPENCV_PIN}']
    low, high = OPENCV
    installed = Version(Version(cv2.__version__).base_version)
    if Version(low) <= installed < Version(high):
        return []
    return [f'OpenCV {cv2.__version__} is out of range (need >={low},<{high}: '
            "OpenCV 5's cv2.warpAffine changes the pixels of pose inputs and "
            f'so the keypoints); install {OPENCV_PIN}']


def check_environment(verbose: bool = False):
    """Raise one ImportError listing every missing or out-of-range package.

    Args:
        verbose (bool): Print the versions found when all is well.
    """
    problems = _problems()
    if problems:
        raise UnsupportedEnvironmentError(
            'mogavision cannot run with the installed packages:\n  - ' +
            '\n  - '.join(problems) + f'\n{SETUP_HINT}')
    if verbose:
        import cv2
        for dist in SUPPORTED:
            print(f'  {dist:15s} {version(dist)}')
        print(f'  {"opencv (cv2)":15s} {cv2.__version__}')
        print('  mmcv ops       compiled')
