"""tools/test.py --backend onnxruntime|openvino on exported models gives
the metrics (and the --out predictions) of the PyTorch checkpoint on
synthetic data; tools/demo/image_demo.py draws an exported model."""
import os.path as osp
import pickle
import re

import numpy as np
import torch
from conftest import DATA_DIR, random_model

from mogavision.datasets.synthetic import (write_ade20k, write_coco_keypoints,
                                           write_imagenet)

CONFIGS = osp.join(DATA_DIR, 'configs')


def save_random_checkpoint(config, path, seed=0):
    """The config's model with seeded random weights and BN statistics
    (``conftest.random_model``; BN weights and biases as initialised),
    saved as tools/train.py would."""
    from mmengine.config import Config
    model = random_model(Config.fromfile(config), seed, affine=False)
    torch.save({'meta': {}, 'state_dict': model.state_dict()}, path)
    return path


def read_metrics(out, pattern=r'(?:Epoch|Iter)\(test\) +\[\d+/\d+\] +(.*)$'):
    """The final metrics line, as {name: value string}."""
    line = re.findall(pattern, out, re.M)[-1]
    return {name.strip(): value for name, value in re.findall(
        r'([\w/.\- ]+?): (-?[\d.]+)', line.split('data_time')[0])}


def run_both(run_tool, config, checkpoint, tmp_path, options, backends,
             export_options=()):
    """tools/test.py on the checkpoint, export, tools/test.py on the export
    with each backend; returns the metrics and --out dumps of each."""
    onnx_dir = tmp_path / 'onnx'
    out = run_tool(['tools/deployment/export_onnx.py', config, checkpoint,
                    '--out-dir', str(onnx_dir), '--dynamic', '--cfg-options',
                    *options] + (['--export-options', *export_options]
                                 if export_options else []))
    assert 'max |onnxruntime - torch|' in out
    results = {}
    for backend in ('pytorch', ) + tuple(backends):
        model = checkpoint if backend == 'pytorch' else \
            str(onnx_dir / 'end2end.onnx')
        dump = tmp_path / f'{backend}.pkl'
        out = run_tool(['tools/test.py', config, model, '--backend', backend,
                        '--work-dir', str(tmp_path / backend), '--out',
                        str(dump), '--cfg-options', *options])
        with open(dump, 'rb') as f:
            results[backend] = read_metrics(out), pickle.load(f)
    return results


def loader_options(root, splits=('val', 'test')):
    options = []
    for split in splits:
        options += [f'{split}_dataloader.dataset.data_root={root}',
                    f'{split}_dataloader.num_workers=0',
                    f'{split}_dataloader.persistent_workers=False']
    return options


def test_classifier_metrics(run_tool, tmp_path):
    config = osp.join(CONFIGS, 'toy_moganet_cls.py')
    root = str(tmp_path / 'imagenet')
    write_imagenet(root, splits={'val': 3}, num_classes=4, image_size=40)
    checkpoint = save_random_checkpoint(config, str(tmp_path / 'cls.pth'))
    results = run_both(run_tool, config, checkpoint, tmp_path,
                       loader_options(root), ['openvino'])
    metrics, dumps = results['pytorch']
    assert 'accuracy/top1' in metrics
    assert results['openvino'][0] == metrics
    for got, expected in zip(results['openvino'][1], dumps):
        np.testing.assert_allclose(got['pred_score'], expected['pred_score'],
                                   atol=1e-5)


def test_segmentor_metrics(run_tool, tmp_path):
    config = osp.join(CONFIGS, 'toy_moganet_semantic_fpn.py')
    root = str(tmp_path / 'ADEChallengeData2016')
    write_ade20k(root, splits={'validation': 2}, image_size=(83, 45))
    checkpoint = save_random_checkpoint(config, str(tmp_path / 'seg.pth'))
    options = loader_options(root) + [
        'test_dataloader.dataset.pipeline.1.scale=(128,64)']
    # logits: the host resizes them to each image as mmseg does, so the
    # label maps (and metrics) are PyTorch's exactly
    results = run_both(run_tool, config, checkpoint, tmp_path, options,
                       ['onnxruntime'], ['logits=True'])
    metrics, dumps = results['pytorch']
    assert {'aAcc', 'mIoU', 'mAcc'} <= set(metrics)
    got_metrics, got_dumps = results['onnxruntime']
    assert got_metrics == metrics
    for got, expected in zip(got_dumps, dumps):
        assert np.array_equal(got['pred_sem_seg']['data'],
                              expected['pred_sem_seg']['data'])


def test_pose_metrics_and_demo(run_tool, tmp_path):
    config = osp.join(CONFIGS, 'toy_moganet_topdown_heatmap.py')
    root = str(tmp_path / 'coco')
    files = write_coco_keypoints(root, splits={'val2017': 2}, max_people=2)
    checkpoint = save_random_checkpoint(config, str(tmp_path / 'pose.pth'))
    options = [f'test_evaluator.ann_file={files["val2017"]}',
               f'test_dataloader.dataset.data_root={root}/',
               f'test_dataloader.dataset.bbox_file={files["val2017_dets"]}',
               'test_dataloader.num_workers=0',
               'test_dataloader.persistent_workers=False']
    results = run_both(run_tool, config, checkpoint, tmp_path, options,
                       ['onnxruntime'])
    metrics, dumps = results['pytorch']
    assert 'coco/AP' in metrics
    assert results['onnxruntime'][0] == metrics
    for got, expected in zip(results['onnxruntime'][1], dumps):
        np.testing.assert_allclose(got['pred_instances']['keypoints'],
                                   expected['pred_instances']['keypoints'],
                                   atol=1e-3)

    image = sorted((tmp_path / 'coco' / 'val2017').glob('*.jpg'))[0]
    out_file = tmp_path / 'demo.png'
    out = run_tool(['tools/demo/image_demo.py', str(image), config,
                    str(tmp_path / 'onnx' / 'end2end.onnx'), '--backend',
                    'openvino', '--out-file', str(out_file)])
    assert '1 people' in out and out_file.is_file()


def test_pytorch_only_options_are_refused(tmp_path, repo_root):
    import subprocess
    import sys
    proc = subprocess.run(
        [sys.executable, 'tools/test.py',
         osp.join(CONFIGS, 'toy_moganet_cls.py'), 'x/end2end.onnx',
         '--backend', 'onnxruntime', '--deploy'], cwd=repo_root,
        capture_output=True, text=True)
    assert proc.returncode != 0
    assert '--deploy: PyTorch checkpoints only' in proc.stderr
