# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""mogavision: MogaNet for the OpenMMLab 2.0 toolboxes."""
import os

from .environment import check_environment
from .version import __version__

if os.environ.get('MOGAVISION_SKIP_ENV_CHECK') != '1':
    check_environment()

from .checkpoint import register_safe_globals  # noqa: E402

register_safe_globals()

__all__ = ['__version__', 'check_environment', 'register_safe_globals']
