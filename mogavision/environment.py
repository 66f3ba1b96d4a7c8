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
    if not any(p.startswith('mmcv ') for p in problems):
        try:
            import_module('mmcv._ext')
        except ImportError as exc:
            problems.append(
                f'mmcv is installed without its compiled ops ({exc}); '
                'rebuild it with MMCV_WITH_OPS=1')
    return problems


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
        for dist in SUPPORTED:
            print(f'  {dist:15s} {version(dist)}')
        print('  mmcv ops       compiled')
