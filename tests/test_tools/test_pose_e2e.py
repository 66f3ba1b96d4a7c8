"""``tools/train.py`` and ``tools/test.py`` on the pose suite, as real
subprocesses, on a synthetic COCO-keypoints dataset."""
import glob
import os.path as osp
import re
import subprocess
import sys

from conftest import REPO_ROOT

from mogavision.datasets.synthetic import write_coco_keypoints

XT = osp.join(REPO_ROOT, 'configs', 'pose',
              'topdown_heatmap_moganet_xt_256x192.py')


def shrink_options(root):
    """``--cfg-options`` pointing the XT config at ``root``: no ImageNet
    download, batch 2 in-process, one epoch (4 people -> 2 iterations) and
    no validation during training (tools/test.py evaluates)."""
    dets = osp.join(root, 'person_detection_results',
                    'COCO_val2017_detections_AP_H_56_person.json')
    val_ann = osp.join(root, 'annotations', 'person_keypoints_val2017.json')
    options = [
        'model.backbone.init_cfg=None',
        'train_cfg.max_epochs=1', 'train_cfg.val_interval=2',
        'default_hooks.logger.interval=1',
        f'val_evaluator.ann_file={val_ann}',
        f'test_evaluator.ann_file={val_ann}',
    ]
    for split in ('train', 'val', 'test'):
        options += [f'{split}_dataloader.batch_size=2',
                    f'{split}_dataloader.num_workers=0',
                    f'{split}_dataloader.persistent_workers=False',
                    f'{split}_dataloader.dataset.data_root={root}/']
    for split in ('val', 'test'):
        options.append(f'{split}_dataloader.dataset.bbox_file={dets}')
    return options


def test_train_then_test_xt(run_tool, tmp_path):
    root = str(tmp_path / 'coco')
    # One person per image: 4 train instances, 2 iterations of batch 2.
    write_coco_keypoints(root, splits={'train2017': 4, 'val2017': 2},
                         max_people=1)
    work_dir = str(tmp_path / 'work')
    options = shrink_options(root)
    out = run_tool(['tools/train.py', XT, '--work-dir', work_dir,
                    '--cfg-options', *options])
    iters = re.findall(r'Epoch\(train\) +\[1\]\[(\d)/2\].*loss_kpt: ', out)
    assert iters == ['1', '2']
    ckpt = osp.join(work_dir, 'epoch_1.pth')
    assert osp.isfile(ckpt), sorted(glob.glob(osp.join(work_dir, '*')))

    show_dir = str(tmp_path / 'vis')
    out = run_tool(['tools/test.py', XT, ckpt, '--work-dir', work_dir,
                    '--show-dir', show_dir, '--cfg-options', *options])
    assert len(glob.glob(osp.join(show_dir, '*.jpg'))) == 2  # drawn results
    # Evaluated on the detections file: 2 detected people, flip test.
    metrics = re.search(r'Epoch\(test\) +\[1/1\] +coco/AP: ([\d.]+) +'
                        r'coco/AP \.5: ([\d.]+).*coco/AR: ([\d.]+)', out)
    assert metrics, out[-3000:]
    assert all(0. <= float(v) <= 1. for v in metrics.groups())

    # A user's own script, without mogavision imported beforehand.
    image = sorted(glob.glob(osp.join(root, 'val2017', '*.jpg')))[0]
    out = run_tool(['python', '-c', (
        'from mmpose.apis import MMPoseInferencer\n'
        f'inferencer = MMPoseInferencer(pose2d={XT!r}, pose2d_weights={ckpt!r},'
        ' det_model="whole_image", device="cpu")\n'
        f'result = next(inferencer({image!r}, return_datasamples=True))\n'
        'print("KEYPOINTS", result["predictions"][0].pred_instances'
        '.keypoints.shape)\n')])
    assert 'KEYPOINTS (1, 17, 2)' in out


def test_train_without_data_fails_fast(tmp_path):
    config = osp.join(REPO_ROOT, 'configs', 'pose',
                      'topdown_heatmap_moganet_s_256x192.py')
    # cwd without data/: the config's relative data/coco/ paths are absent.
    proc = subprocess.run(
        [sys.executable, osp.join(REPO_ROOT, 'tools', 'train.py'), config],
        cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, timeout=300)
    assert proc.returncode != 0
    assert 'FileNotFoundError: Dataset files not found' in proc.stdout
    assert 'data/coco/annotations/person_keypoints_train2017.json' in \
        proc.stdout
    assert ('bbox_file: data/coco/person_detection_results/'
            'COCO_val2017_detections_AP_H_56_person.json') in proc.stdout
    # It stopped before building the model (no download attempt, no logs).
    assert 'moganet_small' not in proc.stdout
    assert not osp.exists(tmp_path / 'work_dirs')
