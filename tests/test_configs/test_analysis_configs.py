"""The configs that docs/analysis/*.sh train (analysis pictures, INT8
accuracy) still read and build against the toolboxes' bases they inherit,
with data where those scripts write it."""
import glob
import os.path as osp

import pytest
from conftest import REPO_ROOT
from mmengine.config import Config

from mogavision.config import build_model, split_datasets

CONFIGS = sorted(glob.glob(osp.join(REPO_ROOT, 'docs', 'analysis', 'configs',
                                    '*.py')))


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_analysis_config_builds(path):
    cfg = Config.fromfile(path)
    assert build_model(cfg) is not None
    for split in ('train', 'test'):
        for dataset in split_datasets(cfg, split):
            assert dataset['data_root'].startswith('work_dirs/'), (
                split, dataset['data_root'])
