import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DATA_DIR = osp.join(REPO_ROOT, 'tests', 'data')

torch.set_num_threads(min(2, os.cpu_count() or 1))


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


def _run_tool(args, cwd=REPO_ROOT, timeout=900, env=None):
    """Run a repository tool as a user would (``python tools/...``) and return
    its combined output; fail the test with that output on a non-zero exit."""
    cmd = list(args)
    if cmd[0] == 'python':
        cmd[0] = sys.executable
    elif cmd[0].endswith('.py'):
        cmd.insert(0, sys.executable)
    full_env = dict(os.environ, PYTHONUNBUFFERED='1', **(env or {}))
    proc = subprocess.run(cmd, cwd=cwd, env=full_env, stdout=subprocess.PIPE,
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
