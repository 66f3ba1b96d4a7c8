"""tools/analysis/interaction_strength.py, vis_cam.py and erf.py end to end
on tiny configs and synthetic ImageNet-layout images."""
import csv
import importlib.util
import os
import os.path as osp
import re

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mogavision.analysis import ImageInputs, load_analysis_model
from mogavision.datasets.synthetic import write_imagenet

TOY = 'tests/data/configs/toy_moganet_cls.py'
RESNET = 'mmpretrain::resnet/resnet18_8xb32_in1k.py'
# ResNet-18 as mmpretrain ships it, on 32x32 crops with 4 classes.
SMALL_RESNET = ['test_dataloader.dataset.pipeline.1.scale=36',
                'test_dataloader.dataset.pipeline.2.crop_size=32',
                'model.head.num_classes=4', 'data_preprocessor.num_classes=4',
                'val_evaluator.topk=1', 'test_evaluator.topk=1'] + [
    f'{split}_dataloader.dataset.metainfo.classes=[c0,c1,c2,c3]'
    for split in ('train', 'val', 'test')]
# Stage 4 of MogaNet has stride 32: 4x4 maps on 128x128 crops.
CROP_128 = ['test_dataloader.dataset.pipeline.1.scale=144',
            'test_dataloader.dataset.pipeline.2.crop_size=128']
POSE = 'configs/pose/topdown_heatmap_moganet_xt_256x192.py'


def _tool(repo_root, name):
    """A tool's module, to call its ``main(argv)`` in this process."""
    path = osp.join(repo_root, 'tools', 'analysis', f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'tool_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def images(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('imagenet'))
    write_imagenet(root, splits={'val': 1}, num_classes=4, image_size=48)
    return root


@pytest.fixture(scope='module')
def toy_checkpoint(images, repo_root, tmp_path_factory):
    """The toy classifier fitted to the four images (one per class): a
    random MogaNet often gives all-zero CAMs (no positive evidence)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg, model = load_analysis_model(osp.join(repo_root, TOY))
    inputs_of = ImageInputs(cfg, model)
    with open(osp.join(images, 'meta', 'val.txt')) as f:
        listed = [line.split() for line in f if line.strip()]
    x = torch.cat([inputs_of(osp.join(images, 'val', p))[0]
                   for p, _ in listed])
    y = torch.tensor([int(label) for _, label in listed])
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(20):
        loss = F.cross_entropy(model(x, mode='tensor'), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    path = str(tmp_path_factory.mktemp('toy') / 'toy.pth')
    torch.save(dict(state_dict=model.state_dict()), path)
    torch.set_num_threads(threads)
    return path


@pytest.fixture
def in_repo(repo_root, monkeypatch):
    """Run tools in this process from the repository root, on one thread:
    these forwards are tiny, and on a busy machine two threads per process
    made them up to ten times slower."""
    monkeypatch.chdir(repo_root)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield repo_root
    torch.set_num_threads(threads)


def test_interaction_strength_compares_two_configs_and_resumes(
        in_repo, images, toy_checkpoint, tmp_path, capfd):
    tool = _tool(in_repo, 'interaction_strength')
    out_dir = str(tmp_path / 'interaction')
    argv = [RESNET, '--cfg-options', *SMALL_RESNET, '--images',
            osp.join(images, 'val'), '--ann-file',
            osp.join(images, 'meta', 'val.txt'), '--num-images', '2',
            '--grid', '3', '--pairs', '2', '--contexts', '2', '--batch-size',
            '64', '--compare', TOY, '--compare-checkpoints', toy_checkpoint,
            '--out-dir', out_dir, '--device', 'cpu']
    curves = tool.main(argv)
    log = capfd.readouterr().out
    assert 'orders [0, 1, 2, 3, 4, 5, 6, 7]' in log
    assert '128 masked forwards per image' in log  # 8 orders x 2 x 2 x 4
    assert 'ETA' in log
    with open(osp.join(out_dir, 'interaction.csv')) as f:
        rows = list(csv.DictReader(f))
    models = ['resnet18_8xb32_in1k', 'toy_moganet_cls']
    assert [r['model'] for r in rows] == [models[0]] * 8 + [models[1]] * 8
    assert list(curves) == models
    for model in models:
        means = [float(r['J_mean']) for r in rows if r['model'] == model]
        assert np.mean(means) == pytest.approx(1, abs=1e-5)
        assert np.std(means) > 0
    assert rows[0]['order'] == '0' and rows[7]['m_over_n'] == '0.777778'
    assert {r['images'] for r in rows} == {'2'}
    picture = cv2.imread(osp.join(out_dir, 'interaction.png'))
    assert picture is not None and min(picture.shape[:2]) > 200
    assert picture.std() > 10

    tool.main(argv)
    assert capfd.readouterr().out.count(
        'resuming: 2 of 2 images already done') == 2
    with open(osp.join(out_dir, 'interaction.csv')) as f:
        assert list(csv.DictReader(f)) == rows


def test_vis_cam_every_method_on_a_module_list_target(in_repo, images,
                                                      toy_checkpoint,
                                                      tmp_path):
    tool = _tool(in_repo, 'vis_cam')
    image = osp.join(images, 'val', 'n00000002', 'val_2_0.JPEG')
    for method in ('gradcam', 'gradcam++', 'scorecam', 'eigencam',
                   'layercam'):
        out_file = str(tmp_path / f'{method}.png')
        result = tool.main([image, TOY, toy_checkpoint, '--method', method,
                            '--target-layers',
                            'backbone.blocks4', '--out-file', out_file,
                            '--cfg-options', *CROP_128])
        picture = cv2.imread(out_file)
        assert picture.shape == (128, 128, 3)  # the test pipeline's crop
        assert result['cam'].shape == (128, 128)
        assert result['cam'].std() > 0.01, method
    default = tool.main([image, TOY, toy_checkpoint, '--out-file',
                         str(tmp_path / 'd.png'), '--cfg-options', *CROP_128])
    assert default['layers'] == ['backbone.norm4']
    assert default['cam'].std() > 0.01
    assert default['label'] == result['label'] != 1  # top-1
    other = tool.main([image, TOY, toy_checkpoint, '--out-file',
                       str(tmp_path / 'o.png'), '--target-class', '1'])
    assert other['label'] == 1


def test_vis_cam_bad_input(in_repo, images):
    tool = _tool(in_repo, 'vis_cam')
    image = osp.join(images, 'val', 'n00000000', 'val_0_0.JPEG')
    with pytest.raises(KeyError, match='backbone.norm4'):
        tool.main([image, TOY, '--target-layers', 'backbone.norm5'])
    with pytest.raises(ValueError, match='is a pose config'):
        tool.main([image, POSE])
    with pytest.raises(ValueError, match=re.escape(
            "Unknown --method 'gradcam3'; choose one of gradcam, gradcam++, "
            'scorecam, eigencam, layercam.')):
        tool.main([image, TOY, '--method', 'gradcam3'])


def test_erf_on_a_classifier_stage_and_a_pose_backbone(in_repo, images,
                                                       tmp_path):
    tool = _tool(in_repo, 'erf')
    out_file = str(tmp_path / 'erf.png')
    result = tool.main([TOY, '--images', osp.join(images, 'val'),
                        '--num-images', '3', '--stage', '3', '--shape', '48',
                        '64', '--out-file', out_file])
    assert result['count'] == 3 and result['map'].shape == (48, 64)
    assert result['map'].std() > 0
    picture = cv2.imread(out_file)
    assert picture is not None and picture.std() > 10
    with open(str(tmp_path / 'erf.csv')) as f:
        rows = list(csv.DictReader(f))
    assert [r['threshold'] for r in rows] == ['0.2', '0.3', '0.5', '0.99']
    ratios = [float(r['area_ratio']) for r in rows]
    assert ratios == sorted(ratios) and 0 < ratios[0] < ratios[-1] <= 1
    assert np.load(str(tmp_path / 'erf.npy')).shape == (48, 64)

    pose = tool.main([POSE, '--images', osp.join(images, 'val'),
                      '--num-images', '1', '--layer', 'blocks2',
                      '--out-file', str(tmp_path / 'pose.png')])
    assert pose['shape'] == (256, 192) and pose['map'].std() > 0


def test_tools_refuse_an_empty_image_folder(in_repo, tmp_path):
    empty = str(tmp_path / 'empty')
    os.makedirs(empty)
    with pytest.raises(FileNotFoundError, match=f'No images in {empty}'):
        _tool(in_repo, 'erf').main([TOY, '--images', empty])
    with pytest.raises(FileNotFoundError, match=f'No images in {empty}'):
        _tool(in_repo, 'interaction_strength').main(
            [TOY, '--images', empty, '--out-dir', str(tmp_path / 'o')])
