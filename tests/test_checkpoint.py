"""Released checkpoint formats load into the backbone; unsafe files are
refused."""
import argparse
import os

import pytest
import torch

from mogavision.checkpoint import (convert_release_classifier,
                                   load_backbone_checkpoint,
                                   load_checkpoint_file)
from mogavision.models import MogaNet

ARCH = dict(embed_dims=[8, 16, 24, 32], depths=[1, 1, 2, 1],
            ffn_ratios=[8, 8, 4, 4])


def randomized(model):
    torch.manual_seed(0)
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point():
            tensor.copy_(torch.rand_like(tensor) + 0.5 if 'running_var' in name
                         else torch.randn_like(tensor) * 0.2)
    return model.eval()


def release_state_dict(model, num_classes=10):
    state = dict(model.state_dict())
    state['head.weight'] = torch.randn(num_classes, model.embed_dims[-1])
    state['head.bias'] = torch.randn(num_classes)
    return state


FORMATS = {
    'timm': lambda sd: {'state_dict': sd, 'epoch': 300,
                        'args': argparse.Namespace(model='moganet_xtiny',
                                                   lr=1e-3)},
    'timm_ema': lambda sd: {
        'state_dict': {k: torch.zeros_like(v) for k, v in sd.items()},
        'state_dict_ema': sd},
    'raw': lambda sd: sd,
    'model': lambda sd: {'model': sd},
    'mm': lambda sd: {'meta': {'epoch': 1}, 'state_dict': {
        **{f'backbone.{k}': v for k, v in sd.items()
           if not k.startswith('head.')},
        'head.fc.weight': sd['head.weight'],
        'neck.conv.weight': torch.zeros(1)}},
}


@pytest.mark.parametrize('fmt', list(FORMATS))
def test_formats_round_trip(fmt, tmp_path):
    source = randomized(MogaNet(arch=ARCH, out_indices=(0, 1, 2, 3)))
    path = str(tmp_path / f'ckpt_{fmt}.pth')
    torch.save(FORMATS[fmt](release_state_dict(source)), path)
    target = MogaNet(
        arch=ARCH, out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=path,
                      use_ema=fmt == 'timm_ema'))
    target.init_weights()
    target.eval()
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(source(x), target(x)):
            assert torch.equal(a, b)


def test_missing_and_unexpected_keys_reported(tmp_path, caplog):
    source = MogaNet(arch=ARCH)
    state = dict(source.state_dict())
    state.pop('blocks2.0.attn.gate.bias')
    state['blocks2.0.attn.extra'] = torch.zeros(3)
    path = str(tmp_path / 'partial.pth')
    torch.save(state, path)
    result = load_backbone_checkpoint(MogaNet(arch=ARCH), path)
    assert result['missing_keys'] == ['blocks2.0.attn.gate.bias']
    assert result['unexpected_keys'] == ['blocks2.0.attn.extra']


def test_shape_mismatch_is_an_error_and_leaves_model_untouched(tmp_path):
    torch.save(MogaNet(arch='xtiny').state_dict(), tmp_path / 'xt.pth')
    target = MogaNet(arch='tiny')
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(ValueError, match=r'blocks3\.0\.norm1\.weight: '
                       r'checkpoint \(96,\) vs model \(128,\)'):
        load_backbone_checkpoint(target, str(tmp_path / 'xt.pth'))
    for key, value in target.state_dict().items():
        assert torch.equal(value, before[key])


def test_use_ema_without_ema_weights(tmp_path):
    torch.save({'state_dict': MogaNet(arch=ARCH).state_dict()},
               tmp_path / 'c.pth')
    with pytest.raises(KeyError, match='state_dict_ema'):
        load_backbone_checkpoint(MogaNet(arch=ARCH), str(tmp_path / 'c.pth'),
                                 use_ema=True)


def test_unknown_init_cfg_key_is_an_error(tmp_path):
    model = MogaNet(arch=ARCH, init_cfg=dict(type='Pretrained',
                                             checkpoint='x.pth', strict=True))
    with pytest.raises(KeyError, match='strict'):
        model.init_weights()


def test_missing_file():
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        load_checkpoint_file('nope.pth')


def test_truncated_file(tmp_path):
    path = tmp_path / 'cut.pth'
    torch.save(MogaNet(arch=ARCH).state_dict(), path)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(RuntimeError, match='truncated'):
        load_checkpoint_file(str(path))


class _RunsACommand:
    def __reduce__(self):
        return (os.system, ('touch PWNED_BY_CHECKPOINT',))


def test_malicious_checkpoint_is_refused_and_nothing_runs(tmp_path,
                                                          monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'payload': _RunsACommand()}, path)
    with pytest.raises(RuntimeError, match='allow-list'):
        load_checkpoint_file(str(path))
    assert not (tmp_path / 'PWNED_BY_CHECKPOINT').exists()


def test_getattr_allow_list_is_restricted(tmp_path, monkeypatch):
    """A pickled ``getattr`` may reach HistoryBuffer statistics only."""
    monkeypatch.chdir(tmp_path)

    from mmengine.logging import HistoryBuffer

    class _GetattrEscape:
        def __reduce__(self):  # a method that is no statistics function
            return (getattr, (HistoryBuffer, 'register_statistics'))

    path = tmp_path / 'escape.pth'
    torch.save({'x': _GetattrEscape()}, path, pickle_protocol=2)
    with pytest.raises(RuntimeError, match='getattr|allow-list'):
        load_checkpoint_file(str(path))


def test_convert_release_classifier():
    source = MogaNet(arch=ARCH)
    state = release_state_dict(source)
    converted, mapping = convert_release_classifier({'state_dict': state})
    assert converted['head.fc.weight'] is state['head.weight']
    assert ('blocks1.0.attn.gate.weight',
            'backbone.blocks1.0.attn.gate.weight') in mapping
    assert len(converted) == len(state)
    with pytest.raises(KeyError, match='neither backbone nor head'):
        convert_release_classifier({**state, 'aux.weight': torch.zeros(1)})


def test_release_format_xtiny_through_init_cfg(tmp_path):
    """The issue's acceptance check: a checkpoint in the release's exact
    format (timm ``state_dict`` with ``head.*``, 705 keys) loads into
    MogaNet-XT through init_cfg with no missing keys and the same features."""
    source = randomized(MogaNet(arch='xtiny', out_indices=(0, 1, 2, 3)))
    state = release_state_dict(source, num_classes=1000)
    assert len(state) == 705
    path = str(tmp_path / 'moganet_xtiny_sz224_8xbs128_ep300.pth.tar')
    torch.save({'state_dict': state, 'epoch': 299}, path)
    target = MogaNet(arch='xtiny', out_indices=(0, 1, 2, 3),
                     init_cfg=dict(type='Pretrained', checkpoint=path))
    result = load_backbone_checkpoint(target, path)
    assert result['missing_keys'] == [] and result['unexpected_keys'] == []
    assert sorted(result['dropped_keys']) == ['head.bias', 'head.weight']
    target = MogaNet(arch='xtiny', out_indices=(0, 1, 2, 3),
                     init_cfg=dict(type='Pretrained', checkpoint=path))
    target.init_weights()
    target.eval()
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        for a, b in zip(source(x), target(x)):
            assert torch.equal(a, b)
