import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DATA_DIR = osp.join(REPO_ROOT, 'tests', 'data')

#: ``make test`` runs pytest-xdist workers (``-n auto``): each takes its
#: share of the cores, for its own models and the tools it starts, so that
#: workers do not oversubscribe the CPU.
WORKERS = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
THREADS = max(1, min(2, (os.cpu_count() or 1) // WORKERS))
torch.set_num_threads(THREADS)


@pytest.fixture(scope='module')
def single_thread():
    """One intra-op thread for a module's in-process model runs (use with
    ``pytestmark = pytest.mark.usefixtures('single_thread')``): on a shared
    2-core machine two threads contend with other processes and make these
    runs many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='session')
def repo_root():
    return REPO_ROOT


def randomize_norms(model: torch.nn.Module, seed: int = 0,
                    affine: bool = True, shift: float = .5,
                    var_range: tuple = (.5, 1.5)):
    """Give every BatchNorm of ``model`` running statistics (mean in
    [-shift, shift), var in ``var_range``) and, with ``affine``, a weight in
    [.5, 1.5) and a bias in [-shift, shift): far from the identity, so that
    a wrong fold or a missing normalisation shows in the outputs. The values
    come from a generator seeded with ``seed`` (the global RNG is left
    alone). Returns ``model``."""
    generator = torch.Generator().manual_seed(seed)
    low, high = var_range

    def uniform(n, a, b):
        return torch.rand(n, generator=generator) * (b - a) + a

    for module in model.modules():
        if isinstance(module, _BatchNorm):
            n = module.num_features
            module.running_mean.copy_(uniform(n, -shift, shift))
            module.running_var.copy_(uniform(n, low, high))
            if affine and module.weight is not None:
                module.weight.data.copy_(uniform(n, .5, 1.5))
                module.bias.data.copy_(uniform(n, -shift, shift))
    return model


def random_model(cfg, seed: int = 0, affine: bool = True) -> torch.nn.Module:
    """The config's model (``mogavision.config.build_model``: eval mode,
    SyncBN replaced) with its own seeded initialisation
    (``torch.manual_seed(seed)``, ``init_weights``) and BN statistics (and,
    with ``affine``, BN weights and biases) from :func:`randomize_norms`."""
    from mogavision.config import build_model
    torch.manual_seed(seed)
    model = build_model(cfg)
    if hasattr(model, 'init_weights'):
        model.init_weights()
    return randomize_norms(model, seed, affine).eval()


def tool_env(**env) -> dict:
    """The environment of a tool run by a test: this one, unbuffered, with
    the worker's share of threads (runs compared with each other must use
    the same thread count: it changes float reductions), and ``env``."""
    full_env = dict(os.environ, PYTHONUNBUFFERED='1', **env)
    if WORKERS > 1:
        full_env.setdefault('OMP_NUM_THREADS', str(THREADS))
    return full_env


def _run_tool(args, cwd=REPO_ROOT, timeout=900, env=None):
    """Run a repository tool as a user would (``python tools/...``) and return
    its combined output; fail the test with that output on a non-zero exit."""
    cmd = list(args)
    if cmd[0] == 'python':
        cmd[0] = sys.executable
    elif cmd[0].endswith('.py'):
        cmd.insert(0, sys.executable)
    proc = subprocess.run(cmd, cwd=cwd, env=tool_env(**(env or {})), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f'{" ".join(cmd)} exited {proc.returncode}:\n'
                    f'{proc.stdout[-6000:]}')
    return proc.stdout


@pytest.fixture(scope='session')
def run_tool():
    """``run_tool(['tools/train.py', cfg, ...])``: a real subprocess."""
    return _run_tool


LEGACY_DIR = osp.join(DATA_DIR, 'legacy')
#: The real photographs of the legacy fidelity reference.
LEGACY_IMAGES = osp.join(LEGACY_DIR, 'images')


@pytest.fixture(scope='session')
def legacy_checkpoint(tmp_path_factory):
    """``legacy_checkpoint(case)``: the path of the OpenMMLab 1.x checkpoint
    of a ``tests/data/legacy`` case (``det_retinanet_xt``, ``seg_fpn_xt``,
    ``pose_xt_256``), rebuilt once per session with the reference's own rule
    (``tests/data/legacy/rebuild_ckpt.py``)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'legacy_rebuild', osp.join(LEGACY_DIR, 'rebuild_ckpt.py'))
    rebuild = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rebuild)
    root = tmp_path_factory.mktemp('legacy_checkpoints')
    paths = {}

    def get(case):
        if case not in paths:
            paths[case] = str(root / f'{case}.pth')
            rebuild.rebuild(case, paths[case])
        return paths[case]

    return get


#: Legacy cases -> the model-zoo rows whose released files they stand in for.
LEGACY_RELEASES = {'det_retinanet_xt': 'retinanet_moganet_xt',
                   'seg_fpn_xt': 'semantic_fpn_moganet_xt',
                   'pose_xt_256': 'topdown_heatmap_moganet_xt_256x192'}


def write_release_classifier(path: str, arch: str = 'xtiny',
                             num_classes: int = 1000):
    """A checkpoint in the ImageNet release's format (timm: ``state_dict``
    with MogaNet keys and ``head.weight``/``head.bias``) of a seeded random
    MogaNet: the stand-in for a released classifier, as the legacy files
    are for the downstream rows."""
    from mogavision.models import MogaNet
    torch.manual_seed(0)
    backbone = MogaNet(arch=arch, out_indices=(3, ))
    state_dict = dict(backbone.state_dict())
    width = MogaNet.output_channels(arch, (3, ))[-1]
    state_dict['head.weight'] = torch.randn(num_classes, width) * 0.02
    state_dict['head.bias'] = torch.zeros(num_classes)
    torch.save({'state_dict': state_dict}, path)


@pytest.fixture(scope='session')
def seeded_torch_home(tmp_path_factory, legacy_checkpoint):
    """A ``TORCH_HOME`` whose hub cache holds, under the release's file
    names, the 1.x checkpoints rebuilt from ``tests/data/legacy`` (RetinaNet
    XT, Semantic FPN XT, pose XT 256x192) and a release-format ImageNet
    MogaNet-XT: ``mogavision://`` names resolve offline."""
    import shutil
    from mogavision.model_zoo import get_model
    home = tmp_path_factory.mktemp('torch_home')
    hub = home / 'hub' / 'checkpoints'
    hub.mkdir(parents=True)
    for case, row in LEGACY_RELEASES.items():
        shutil.copy(legacy_checkpoint(case), hub / get_model(row).file_name)
    write_release_classifier(str(hub / get_model('moganet_xt_224').file_name))
    return str(home)


@pytest.fixture
def caplog_mm():
    """What mmengine's current logger (``print_log(..., logger='current')``)
    writes during the test, as ``.text``."""
    import io
    import logging
    from mmengine.logging import MMLogger
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    yield type('Captured', (), {'text': property(
        lambda self: stream.getvalue())})()
    logger.removeHandler(handler)
