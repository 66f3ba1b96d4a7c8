"""Detection end to end through the real tools: train two iterations on a
synthetic COCO dataset, test the checkpoint with COCO metrics, and fail fast
without data."""
import glob
import json
import os.path as osp
import pickle
import re
import subprocess
import sys

import pytest
import torch
from conftest import REPO_ROOT

from mogavision.datasets.synthetic import write_coco_instances

# One intra-op thread per tool process: faster on a shared 2-core machine.
ENV = dict(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')


@pytest.fixture(scope='module')
def coco_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('coco')) + '/'
    files = write_coco_instances(root, splits={'train2017': 2, 'val2017': 2})
    with open(files['train2017']) as f:
        train = json.load(f)
    outside = dict(train['annotations'][0], id=999, bbox=[500., 10., 20., 20.])
    train['annotations'].append(outside)  # skipped with a counted warning
    with open(files['train2017'], 'w') as f:
        json.dump(train, f)
    return root


def small_run_options(root: str, work_dir: str, is_rpn_based: bool):
    """--cfg-options for 2 images at 160x128, batch 1, one epoch (2
    iterations), no pretrained weights, and every box scored (score_thr 0)
    so that the untrained model's predictions reach the COCO metric."""
    ann = root + 'annotations/instances_val2017.json'
    options = [
        'model.backbone.init_cfg=None',
        'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
        'default_hooks.logger.interval=1',
        'train_dataloader.dataset.pipeline.2.scale=(160,128)',
        'test_dataloader.dataset.pipeline.1.scale=(160,128)',
        'val_dataloader.dataset.pipeline.1.scale=(160,128)',
        f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}',
        'model.test_cfg.rcnn.score_thr=0.' if is_rpn_based else
        'model.test_cfg.score_thr=0.',
    ]
    for split, batch in (('train', 1), ('val', 1), ('test', 1)):
        options += [f'{split}_dataloader.dataset.data_root={root}',
                    f'{split}_dataloader.batch_size={batch}',
                    f'{split}_dataloader.num_workers=0',
                    f'{split}_dataloader.persistent_workers=False']
    return ['--work-dir', work_dir, '--cfg-options'] + options


def metric(output: str, key: str) -> float:
    found = re.findall(rf'{re.escape(key)}: (-?\d+\.\d+)', output)
    assert found, f'{key} not printed:\n{output[-3000:]}'
    return float(found[-1])


@pytest.mark.parametrize('name,metrics', [
    ('mask_rcnn_moganet_xt', ('coco/bbox_mAP', 'coco/segm_mAP')),
    ('retinanet_moganet_xt', ('coco/bbox_mAP', )),
])
def test_train_then_test(run_tool, coco_root, tmp_path, name, metrics):
    config = f'configs/det/{name}.py'
    options = small_run_options(coco_root, str(tmp_path),
                                is_rpn_based='rcnn' in name)
    out = run_tool(['tools/train.py', config] + options, env=ENV)
    assert re.search(r'Epoch\(train\) \[1\]\[2/2\].*loss: \d', out), out[-3000:]
    assert re.search(r'instances_train2017.json: skipped 1 of \d+ annotations: '
                     r'1 box outside the image \(ann 999 in ', out)
    roi_log = re.search(r'RoIAlign -> mogavision ParallelRoIAlign in (\d+)',
                        out)
    assert (roi_log is not None) == ('rcnn' in name)
    checkpoint = tmp_path / 'epoch_1.pth'
    assert checkpoint.is_file()

    def predict(*flags):
        pkl = str(tmp_path / f'preds{len(flags)}.pkl')
        out = run_tool(['tools/test.py', config, str(checkpoint), *flags,
                        '--out', pkl] + options, env=ENV)
        with open(pkl, 'rb') as f:
            return out, pickle.load(f)

    out, preds = predict()
    assert 'Epoch(test)' in out
    assert 'checkpoint tensors loaded; 0 model keys missing' in out
    for key in metrics:
        assert 0. <= metric(out, key) <= 1.
    if 'rcnn' in name:
        # channels-last features through the RoI heads: mmcv's RoIAlign
        # would misread them; the predictions must not change.
        out, fast = predict('--deploy', '--channels-last')
        assert 'Model converted to channels_last.' in out
        for a, b in zip(preds, fast):
            a, b = a['pred_instances'], b['pred_instances']
            torch.testing.assert_close(a['scores'], b['scores'], rtol=0,
                                       atol=1e-4)
            torch.testing.assert_close(a['bboxes'], b['bboxes'], rtol=0,
                                       atol=1e-3)

    if 'rcnn' in name:
        # A user's own script, which never imports mogavision before mmdet
        # loads the weights (the config's mogavision types import us later).
        image = sorted(glob.glob(osp.join(coco_root, 'val2017', '*.jpg')))[0]
        out = run_tool(['python', '-c', (
            'from mmdet.apis import DetInferencer\n'
            f'inferencer = DetInferencer(model={config!r}, '
            f'weights={str(checkpoint)!r}, device="cpu")\n'
            f'result = inferencer({image!r}, return_datasamples=True)\n'
            'print("PREDICTED", len(result["predictions"]))\n')], env=ENV)
        assert 'PREDICTED 1' in out


def test_train_without_data_fails_fast_naming_the_path(tmp_path):
    """From a directory without data/coco: a clear error, no hang, no
    download."""
    config = osp.join(REPO_ROOT, 'configs', 'det', 'mask_rcnn_moganet_s.py')
    proc = subprocess.run(
        [sys.executable, osp.join(REPO_ROOT, 'tools', 'train.py'), config,
         '--work-dir', str(tmp_path / 'work')],
        cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, timeout=120)
    assert proc.returncode != 0
    assert 'FileNotFoundError' in proc.stdout
    assert 'data/coco/annotations/instances_train2017.json' in proc.stdout
    assert 'data/coco/train2017/' in proc.stdout
    assert not (tmp_path / 'work').exists() or \
        not any((tmp_path / 'work').rglob('*.pth'))
