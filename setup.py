# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
import os.path as osp

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def read_version():
    scope = {}
    with open(osp.join(HERE, 'mogavision', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


def read_requirements(name):
    path = osp.join(HERE, 'requirements', f'{name}.txt')
    with open(path) as f:
        lines = (line.split('#')[0].strip() for line in f)
        return [line for line in lines if line]


setup(
    name='mogavision',
    version=read_version(),
    description='MogaNet (ICLR 2024) for the OpenMMLab 2.0 toolboxes: '
    'classification, detection, segmentation and pose.',
    long_description=open(osp.join(HERE, 'README.md')).read(),
    long_description_content_type='text/markdown',
    license='Apache License 2.0',
    python_requires='>=3.9',
    packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools')),
    include_package_data=True,
    # The OpenMMLab stack itself (torch, mmengine, mmcv with ops, mmdet,
    # mmsegmentation, mmpose, mmpretrain) needs source builds and pins that
    # pip cannot express; tools/setup_env.sh installs it, and
    # mogavision.check_environment() verifies it on import.
    install_requires=read_requirements('runtime'),
    extras_require={
        'tests': read_requirements('tests'),
        'optional': read_requirements('optional'),
    },
    zip_safe=False,
)
