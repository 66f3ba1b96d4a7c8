"""Tiny configs of every exported family, built in-process."""
import os.path as osp

from conftest import LEGACY_IMAGES as IMAGES
from conftest import REPO_ROOT, random_model
from mmengine.config import Config

#: family -> a tiny config of it (toy MogaNet, slim heads, no downloads)
TINY = {
    'cls': 'tests/data/configs/toy_moganet_cls.py',
    'semantic_fpn': 'tests/data/configs/toy_moganet_semantic_fpn.py',
    'upernet': 'tests/data/configs/toy_moganet_upernet.py',
    'pose': 'tests/data/configs/toy_moganet_topdown_heatmap.py',
}


def image_path(name='chelsea.png'):
    """A real photo of tests/data/legacy/images."""
    return osp.join(IMAGES, name)


def tiny_config(name: str, **options) -> Config:
    cfg = Config.fromfile(osp.join(REPO_ROOT, TINY[name]))
    cfg.merge_from_dict(options)
    return cfg


def tiny_model(cfg: Config, seed: int = 0):
    """The config's model in eval mode with seeded random weights and BN
    statistics (``conftest.random_model``), ``cfg`` attached (as the
    toolboxes' init functions do)."""
    if cfg.get('data_preprocessor') and \
            not cfg.model.get('data_preprocessor'):
        # as the Runner does (mmpretrain configs keep it at the top level)
        cfg = cfg.copy()
        cfg.model.data_preprocessor = cfg.data_preprocessor
    model = random_model(cfg, seed)
    model.cfg = cfg
    return model
