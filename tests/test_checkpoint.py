"""Released checkpoint formats load into the backbone; unsafe files are
refused."""
import argparse
import logging
import os

import numpy as np
import pytest
import torch
from conftest import randomize_norms

from mogavision.checkpoint import (ClassMismatchError, NotACheckpointError,
                                   convert_release_classifier, legacy_origin,
                                   load_backbone_checkpoint,
                                   load_checkpoint_file, make_portable,
                                   prepare_checkpoint, register_safe_globals,
                                   restore_portable_types,
                                   upgrade_legacy_checkpoint)
from mogavision.config import build_model, config_dataset_classes
from mogavision.models import MogaNet

ARCH = dict(embed_dims=[8, 16, 24, 32], depths=[1, 1, 2, 1],
            ffn_ratios=[8, 8, 4, 4])


def randomized(model):
    """Every floating tensor of the state dict random, not only the norms',
    so that a key loaded into the wrong place shows: N(0, 0.2^2) (BN weights
    and biases too: near 1 they blow a deep random net up to inf), then
    positive BN variances from ``randomize_norms``."""
    torch.manual_seed(0)
    for tensor in model.state_dict().values():
        if tensor.is_floating_point():
            tensor.copy_(torch.randn_like(tensor) * 0.2)
    return randomize_norms(model, seed=0, affine=False).eval()


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


def test_runner_loads_refuse_naming_file_and_global(tmp_path, monkeypatch):
    """mmengine's loader (the Runner's load_from, tools/test.py) takes the
    same path: the refusal names the file and the global, and does not
    advise weights_only=False."""
    from mmengine.runner.checkpoint import CheckpointLoader
    monkeypatch.chdir(tmp_path)
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'payload': _RunsACommand()}, path)
    with pytest.raises(RuntimeError) as info:
        CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    message = str(info.value)
    assert str(path) in message and f'the global {os.system.__module__}' \
        '.system' in message
    assert 'weights_only' not in message
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


# --- files that are no checkpoint -------------------------------------------

@pytest.mark.parametrize('content,expected', [
    (b'', 'is empty (0 bytes)'),
    (b'<!DOCTYPE html>\n<html><body>Not Found</body></html>', 'HTML page'),
    (b'  <html>\n<head>', 'HTML page'),
    (b'version https://git-lfs.github.com/spec/v1\n', 'is a text file'),
    (bytes(range(7, 40)), 'is not a PyTorch checkpoint'),
    (b'\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR', 'is not a PyTorch checkpoint'),
])
def test_non_checkpoint_files_are_named(content, expected, tmp_path):
    path = tmp_path / 'weights.pth'
    path.write_bytes(content)
    with pytest.raises(NotACheckpointError) as info:
        load_checkpoint_file(str(path))
    assert expected in str(info.value) and str(path) in str(info.value)


# --- OpenMMLab 1.x checkpoints ----------------------------------------------

LEGACY_CASES = {
    'det_retinanet_xt': ('configs/det/retinanet_moganet_xt.py', 'mmdet 2.28.2'),
    'seg_fpn_xt': ('configs/seg/semantic_fpn_moganet_xt.py', 'mmseg 0.30.0'),
    'pose_xt_256': ('configs/pose/topdown_heatmap_moganet_xt_256x192.py',
                    'mmpose 0.29.0'),
}


def legacy_case(case, legacy_checkpoint, **cfg_options):
    from mmengine.config import Config
    config, origin = LEGACY_CASES[case]
    cfg = Config.fromfile(config)
    cfg.merge_from_dict({'model.backbone.init_cfg': None, **cfg_options})
    checkpoint = load_checkpoint_file(legacy_checkpoint(case))
    return cfg, build_model(cfg), checkpoint, origin


@pytest.mark.parametrize('case', list(LEGACY_CASES))
def test_legacy_checkpoint_loads_with_a_full_key_report(
        case, legacy_checkpoint, caplog):
    cfg, model, checkpoint, origin = legacy_case(case, legacy_checkpoint)
    assert legacy_origin(checkpoint)[1] == origin
    caplog.set_level(logging.INFO)
    report = prepare_checkpoint(checkpoint, model, source=case,
                                dataset_classes=config_dataset_classes(cfg),
                                logger=logging.getLogger('legacy_test'))
    assert report.missing == [] and report.mismatched == []
    assert report.dropped == {}
    assert sorted(report.used) == sorted(model.state_dict())
    assert f'OpenMMLab 1.x ({origin}) checkpoint upgraded' in caplog.text
    assert f'{len(report.used)} of {len(report.used)} checkpoint tensors ' \
        'loaded; 0 model keys missing' in caplog.text
    assert legacy_origin(checkpoint) is None  # upgraded in place
    assert checkpoint['meta']['converted_from'] == origin
    result = model.load_state_dict(checkpoint['state_dict'], strict=True)
    assert not result.missing_keys and not result.unexpected_keys


def test_mmpose_0x_keys_are_renamed_as_mmpose_1x_does(legacy_checkpoint):
    checkpoint = load_checkpoint_file(legacy_checkpoint('pose_xt_256'))
    assert any(k.startswith('keypoint_head.') for k in checkpoint['state_dict'])
    upgraded, notes = upgrade_legacy_checkpoint(checkpoint)
    keys = list(upgraded['state_dict'])
    assert not any(k.startswith('keypoint_head.') for k in keys)
    assert 'head.final_layer.weight' in keys
    assert '20 keys renamed (keypoint_head.* -> head.*)' in notes
    assert 'head.deconv_layers.1' in upgraded['state_dict']._metadata


def test_legacy_class_names_become_dataset_meta(legacy_checkpoint):
    checkpoint = load_checkpoint_file(legacy_checkpoint('seg_fpn_xt'))
    upgraded, _ = upgrade_legacy_checkpoint(checkpoint)
    meta = upgraded['meta']['dataset_meta']
    assert meta['classes'] == tuple(checkpoint['meta']['CLASSES'])
    assert len(meta['classes']) == 150 and len(meta['palette']) == 150
    assert 'optimizer' not in upgraded


def test_wrong_class_names_are_refused_naming_both(legacy_checkpoint):
    cfg, model, checkpoint, _ = legacy_case('det_retinanet_xt',
                                            legacy_checkpoint)
    classes = list(checkpoint['meta']['CLASSES'])
    classes[2], classes[3] = classes[3], classes[2]
    checkpoint['meta']['CLASSES'] = tuple(classes)
    with pytest.raises(ClassMismatchError) as info:
        prepare_checkpoint(checkpoint, model, source='ckpt.pth',
                           dataset_classes=config_dataset_classes(cfg))
    message = str(info.value)
    assert "index 2: 'motorcycle' vs 'car'" in message
    assert 'ckpt.pth' in message and '--allow-class-mismatch' in message


def test_class_mismatch_can_be_allowed(legacy_checkpoint):
    _, model, checkpoint, _ = legacy_case('det_retinanet_xt',
                                          legacy_checkpoint)
    report = prepare_checkpoint(checkpoint, model, source='ckpt.pth',
                                dataset_classes=('cat', 'dog'),
                                allow_class_mismatch=True)
    assert not report.missing


def test_wrong_head_size_is_refused_naming_both_shapes(legacy_checkpoint):
    _, model, checkpoint, _ = legacy_case(
        'det_retinanet_xt', legacy_checkpoint,
        **{'model.bbox_head.num_classes': 79})
    with pytest.raises(ValueError) as info:
        prepare_checkpoint(checkpoint, model, source='ckpt.pth')
    assert ('bbox_head.retina_cls.weight: checkpoint (720, 256, 3, 3) vs '
            'model (711, 256, 3, 3)') in str(info.value)


def test_fine_tuning_reinitialises_exactly_the_heads_of_another_size(
        legacy_checkpoint, caplog):
    _, model, checkpoint, _ = legacy_case(
        'det_retinanet_xt', legacy_checkpoint,
        **{'model.bbox_head.num_classes': 2})
    caplog.set_level(logging.INFO)
    report = prepare_checkpoint(checkpoint, model, source='ckpt.pth',
                                dataset_classes=('cat', 'dog'),
                                fine_tuning=True,
                                logger=logging.getLogger('fine_tune_test'))
    assert report.reinitialised == [
        'bbox_head.retina_cls.weight: checkpoint (720, 256, 3, 3) vs model '
        '(18, 256, 3, 3)', 'bbox_head.retina_cls.bias: checkpoint (720,) vs '
        'model (18,)']
    assert report.mismatched == [] and report.missing == []
    assert sorted(report.used) == sorted(
        k for k in model.state_dict() if not k.startswith(
            'bbox_head.retina_cls.'))
    assert not any(k.startswith('bbox_head.retina_cls.')
                   for k in checkpoint['state_dict'])  # keep their init
    assert 'fine-tuning: ckpt.pth was trained on 80 classes' in caplog.text
    assert 'fine-tuning: 2 head tensors of another size' in caplog.text


def test_fine_tuning_still_refuses_another_backbone(legacy_checkpoint):
    _, model, checkpoint, _ = legacy_case(
        'det_retinanet_xt', legacy_checkpoint,
        **{'model.backbone.arch': 'tiny',
           'model.neck.in_channels': [32, 64, 128, 256]})
    with pytest.raises(ValueError, match=r'(?s)backbone\.patch_embed3.*'
                       r'\.\.\. and \d+ more .*Backbone or neck tensors '
                       'of another size'):
        prepare_checkpoint(checkpoint, model, source='ckpt.pth',
                           fine_tuning=True)


def test_missing_model_keys_are_refused(legacy_checkpoint):
    _, model, checkpoint, _ = legacy_case('seg_fpn_xt', legacy_checkpoint)
    del checkpoint['state_dict']['decode_head.conv_seg.weight']
    with pytest.raises(ValueError, match='lacks 1 keys .*conv_seg.weight'):
        prepare_checkpoint(checkpoint, model, source='ckpt.pth')


def test_dropped_keys_are_named_with_the_reason(legacy_checkpoint):
    _, model, checkpoint, _ = legacy_case('seg_fpn_xt', legacy_checkpoint)
    checkpoint['state_dict']['auxiliary_head.conv_seg.weight'] = \
        torch.zeros(1)
    report = prepare_checkpoint(checkpoint, model, source='ckpt.pth')
    assert report.dropped == {
        'auxiliary_head.conv_seg.weight': 'this model has no auxiliary_head'}


# --- portable checkpoints ---------------------------------------------------

def test_portable_round_trip_restores_exact_objects(tmp_path):
    from mmengine.logging import HistoryBuffer
    buffer = HistoryBuffer([0.5, 0.25], [2, 2], max_length=10)
    checkpoint = dict(
        state_dict={'w': torch.ones(2)},
        meta=dict(dataset_meta=dict(sigmas=np.array([0.1, 0.2], np.float32),
                                    flip=[(0, 1), (2, np.int64(3))]),
                  seed=np.int64(7)),
        message_hub=dict(log_scalars={'train/loss': buffer}))
    path = str(tmp_path / 'portable.pth')
    torch.save(make_portable(checkpoint), path)
    torch.serialization.clear_safe_globals()  # as a process without us
    try:
        plain = torch.load(path, weights_only=True)
    finally:
        register_safe_globals()
    assert plain['meta']['dataset_meta']['sigmas'] == pytest.approx([.1, .2])
    restored = restore_portable_types(plain)
    sigmas = restored['meta']['dataset_meta']['sigmas']
    assert sigmas.dtype == np.float32 and sigmas.tolist() == \
        pytest.approx([0.1, 0.2])
    assert isinstance(restored['meta']['seed'], np.int64)
    assert restored['meta']['dataset_meta']['flip'][1][1].dtype == np.int64
    loss = restored['message_hub']['log_scalars']['train/loss']
    assert isinstance(loss, HistoryBuffer) and loss.max_length == 10
    assert np.array_equal(loss.data[0], buffer.data[0])
    assert np.array_equal(loss.data[1], buffer.data[1])
    assert 'mogavision_portable' not in restored['meta']
