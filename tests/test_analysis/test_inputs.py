"""Configs, images and labels for the analysis tools: ``pkg::`` names, the
test pipeline plus the config's data preprocessor (so that the masking
baseline 0 is the mean colour), image folders and label lists."""
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from mogavision.analysis.inputs import (ImageInputs, list_images,
                                        load_analysis_model, read_labels,
                                        resolve_config)

TOY = 'tests/data/configs/toy_moganet_cls.py'


def test_resolve_config_of_an_installed_toolbox():
    path = resolve_config('mmpretrain::resnet/resnet18_8xb32_in1k.py')
    assert path.endswith(osp.join('.mim', 'configs', 'resnet',
                                  'resnet18_8xb32_in1k.py'))
    assert osp.isfile(path)
    with pytest.raises(FileNotFoundError, match='ships no resnet/nope.py'):
        resolve_config('mmpretrain::resnet/nope.py')
    with pytest.raises(FileNotFoundError, match='not installed'):
        resolve_config('mmnothing::a.py')


def test_inputs_are_normalised_by_the_configs_data_preprocessor(
        repo_root, tmp_path, monkeypatch):
    monkeypatch.chdir(repo_root)
    image = np.zeros((36, 36, 3), np.uint8)
    image[:] = (103, 116, 123)  # BGR: about the ImageNet mean colour
    image[:18, :18] = (0, 0, 255)  # red top-left
    path = str(tmp_path / 'red.png')
    cv2.imwrite(path, image)
    cfg, model = load_analysis_model(TOY)
    inputs, _, display = ImageInputs(cfg, model)(path)
    assert inputs.shape == (1, 3, 32, 32)  # ResizeEdge 36, CenterCrop 32
    assert tuple(display[0, 0]) == (255, 0, 0)  # shown as RGB
    mean = torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1)
    expected = (torch.from_numpy(display.copy()).permute(2, 0, 1).float() -
                mean) / std
    torch.testing.assert_close(inputs[0], expected)
    assert inputs[0, :, -1, -1].abs().max() < 0.02  # the mean colour is ~0


def test_classifier_tools_refuse_other_tasks():
    with pytest.raises(ValueError, match='is a det config'):
        load_analysis_model('configs/det/mask_rcnn_moganet_xt.py',
                            classifier_for='vis_cam.py')


def test_image_folders_and_labels(tmp_path):
    for rel in ('b/2.JPEG', 'a.png', 'notes.txt'):
        os.makedirs(osp.dirname(str(tmp_path / rel)), exist_ok=True)
        (tmp_path / rel).write_bytes(b'x')
    assert list_images(str(tmp_path)) == ['a.png', 'b/2.JPEG']
    assert list_images(str(tmp_path), limit=1) == ['a.png']
    with pytest.raises(FileNotFoundError, match='not found'):
        list_images(str(tmp_path / 'missing'))
    ann = tmp_path / 'val.txt'
    ann.write_text('b/2.JPEG 3\na.png 0\n')
    assert read_labels(str(ann), ['a.png', 'b/2.JPEG']) == {'a.png': 0,
                                                            'b/2.JPEG': 3}
    ann.write_text('a.png 0\n')
    with pytest.raises(KeyError, match='not listed'):
        read_labels(str(ann), ['a.png', 'b/2.JPEG'])
    ann.write_text('a.png zero\n')
    with pytest.raises(ValueError, match='val.txt:1'):
        read_labels(str(ann), ['a.png'])
