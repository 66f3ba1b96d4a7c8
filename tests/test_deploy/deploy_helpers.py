"""Tiny configs of every exported family, built in-process."""
import os.path as osp

import torch
from mmengine.config import Config
from torch.nn.modules.batchnorm import _BatchNorm

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
IMAGES = osp.join(REPO_ROOT, 'tests', 'data', 'legacy', 'images')
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


def randomize_norms(model: torch.nn.Module, seed: int = 0):
    """BN statistics and affine far from the identity, so that a wrong fold
    or a missing normalisation shows in the outputs."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            n = module.num_features
            module.running_mean.copy_(torch.rand(n, generator=generator) - .5)
            module.running_var.copy_(torch.rand(n, generator=generator) + .5)
            if module.weight is not None:
                module.weight.data.copy_(
                    torch.rand(n, generator=generator) + .5)
                module.bias.data.copy_(
                    torch.rand(n, generator=generator) - .5)
    return model


def tiny_model(cfg: Config, seed: int = 0):
    """The config's model in eval mode with seeded random weights and BN
    statistics, ``cfg`` attached (as the toolboxes' init functions do)."""
    from mogavision.analysis import build_model
    torch.manual_seed(seed)
    if cfg.get('data_preprocessor') and \
            not cfg.model.get('data_preprocessor'):
        # as the Runner does (mmpretrain configs keep it at the top level)
        cfg = cfg.copy()
        cfg.model.data_preprocessor = cfg.data_preprocessor
    model = build_model(cfg)
    if hasattr(model, 'init_weights'):
        model.init_weights()
    randomize_norms(model, seed)
    model.cfg = cfg
    return model.eval()
