"""tools/model_converters/moganet_to_mogavision.py: a released (timm-format)
classification checkpoint converts into one that the cls configs load, with
identical logits."""
import importlib.util
import os.path as osp
import re

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint

import mogavision.models  # noqa: F401
from mogavision.models import MogaNet

TOOL = 'tools/model_converters/moganet_to_mogavision.py'
CONFIG = 'configs/cls/moganet_xt_224.py'


def _load_tool(repo_root):
    spec = importlib.util.spec_from_file_location(
        'moganet_to_mogavision', osp.join(repo_root, TOOL))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _random_release_state_dict(seed):
    """A release-format (timm) MogaNet-XT state dict: backbone keys without a
    prefix, ``head.weight``/``head.bias``, randomised BN statistics and layer
    scales so that every tensor matters for the logits."""
    torch.manual_seed(seed)
    backbone = MogaNet(arch='xtiny')
    backbone.init_weights()
    state_dict = backbone.state_dict()
    for key, value in state_dict.items():
        if key.endswith('running_mean'):
            value.normal_(0, 0.1)
        elif key.endswith('running_var'):
            value.uniform_(0.5, 1.5)
        elif key.endswith(('layer_scale_1', 'layer_scale_2', '.scale')):
            value.uniform_(0.01, 0.1)
    state_dict['head.weight'] = torch.randn(1000, 192) * 0.02
    state_dict['head.bias'] = torch.randn(1000) * 0.02
    return state_dict


def _release_logits(state_dict, images):
    """The release's forward: ``head(norm4(x).mean((2, 3)))``."""
    backbone = MogaNet(arch='xtiny')
    backbone.load_state_dict(
        {k: v for k, v in state_dict.items() if not k.startswith('head.')})
    backbone.eval()
    with torch.no_grad():
        feat = backbone(images)[-1].mean((2, 3))
    return F.linear(feat, state_dict['head.weight'], state_dict['head.bias'])


def _config_logits(repo_root, checkpoint, images):
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(osp.join(repo_root, CONFIG))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    # strict: every key of the config's model comes from the file.
    load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    model.eval()
    with torch.no_grad():
        return model(images, mode='tensor')


@pytest.fixture(scope='module')
def release_file(tmp_path_factory):
    path = tmp_path_factory.mktemp('release') / 'moganet_xtiny.pth.tar'
    torch.save(dict(state_dict=_random_release_state_dict(0),
                    state_dict_ema=_random_release_state_dict(1), epoch=300),
               path)
    return str(path)


def test_converted_checkpoint_gives_release_logits(repo_root, run_tool,
                                                   release_file, tmp_path):
    out = str(tmp_path / 'converted.pth')
    log = run_tool([TOOL, release_file, out])
    assert 'Mapped 705 tensors' in log and '703 backbone' in log
    assert 'head.weight -> head.fc.weight' in log
    assert 'pass --ema' in log

    converted = torch.load(out, weights_only=True)
    assert set(converted) == {'state_dict', 'meta'}
    assert converted['meta']['use_ema'] is False
    assert len(converted['meta']['dataset_meta']['classes']) == 1000

    images = torch.randn(2, 3, 64, 64)
    release = torch.load(release_file, weights_only=True)
    expected = _release_logits(release['state_dict'], images)
    actual = _config_logits(repo_root, out, images)
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5)
    # The EMA copy is a different function: the comparison can fail.
    assert not torch.allclose(
        actual, _release_logits(release['state_dict_ema'], images), atol=1e-3)


def test_ema_flag_picks_ema_weights(repo_root, release_file, tmp_path):
    tool = _load_tool(repo_root)
    out = str(tmp_path / 'converted_ema.pth')
    tool.main([release_file, out, '--ema'])
    assert torch.load(out, weights_only=True)['meta']['use_ema'] is True

    images = torch.randn(2, 3, 64, 64)
    release = torch.load(release_file, weights_only=True)
    expected = _release_logits(release['state_dict_ema'], images)
    torch.testing.assert_close(_config_logits(repo_root, out, images),
                               expected, rtol=1e-4, atol=1e-5)


def test_failure_writes_nothing(repo_root, tmp_path):
    tool = _load_tool(repo_root)
    src = str(tmp_path / 'no_ema.pth.tar')
    torch.save(dict(state_dict=_random_release_state_dict(0)), src)
    out = tmp_path / 'out' / 'converted.pth'
    with pytest.raises(SystemExit, match="no 'state_dict_ema'"):
        tool.main([src, str(out), '--ema'])
    with pytest.raises(SystemExit, match='not found'):
        tool.main([str(tmp_path / 'missing.pth.tar'), str(out)])
    assert not out.exists()


def test_interrupted_save_leaves_no_output(repo_root, release_file, tmp_path,
                                           monkeypatch):
    tool = _load_tool(repo_root)
    real_save = torch.save

    def save_then_fail(obj, path):
        real_save({'partial': torch.zeros(1)}, path)
        raise OSError('disk full')

    monkeypatch.setattr(tool.torch, 'save', save_then_fail)
    with pytest.raises(OSError, match='disk full'):
        tool.convert(release_file, str(tmp_path / 'converted.pth'))
    assert list(tmp_path.iterdir()) == []


def test_classify_image_prints_top5(repo_root, release_file, tmp_path,
                                    capsys):
    """A config + converted checkpoint classify an image file (inference
    path: mogavision.apis via tools/classify.py)."""
    import cv2
    import numpy as np
    tool = _load_tool(repo_root)
    out = str(tmp_path / 'converted.pth')
    tool.convert(release_file, out)
    image = str(tmp_path / 'image.jpg')
    cv2.imwrite(image, np.random.default_rng(0).integers(
        0, 255, (80, 96, 3), dtype=np.uint8))

    spec = importlib.util.spec_from_file_location(
        'classify', osp.join(repo_root, 'tools/classify.py'))
    classify = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(classify)
    capsys.readouterr()
    results = classify.main([image, osp.join(repo_root, CONFIG), out])
    # mmengine logs to stdout too: pick the ranked lines out of it.
    printed = re.findall(r'(\d)\. ([^\n]*?) \(label (\d+)\): [\d.]+',
                         capsys.readouterr().out)

    assert len(results) == len(printed) == 5
    scores = [r['score'] for r in results]
    assert scores == sorted(scores, reverse=True)
    assert len({r['label'] for r in results}) == 5
    assert printed == [(str(rank), r['class_name'], str(r['label']))
                       for rank, r in enumerate(results, 1)]
    from mmpretrain.datasets.categories import IMAGENET_CATEGORIES
    assert all(r['class_name'] == IMAGENET_CATEGORIES[r['label']]
               for r in results)
