"""Fine-tuning on a user's own data, as docs/own_data.md tells it: the user
copies one of configs/<task>/own_data/ (here: a config that inherits it and
shrinks the run), puts the data under ``data/`` of the working directory,
and runs tools/train.py and tools/test.py with no extra flags, starting from
the paper's weights by name (the 1.x checkpoints rebuilt from
tests/data/legacy in a pre-seeded hub cache, no network)."""
import os.path as osp
import re

import pytest
from conftest import REPO_ROOT
from own_data_writers import (write_class_folders, write_face_keypoints,
                              write_seg_folders, write_voc)

ENV = dict(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
LOADED = re.compile(r'(mogavision://\S+): (\d+) of (\d+) checkpoint tensors '
                    r'loaded; (\d+) model keys missing')


def write_user_config(workdir, repo_root, name: str, parent: str,
                      body: str) -> str:
    """``workdir/<name>.py`` inheriting the repository's ``parent``."""
    path = osp.join(str(workdir), f'{name}.py')
    with open(path, 'w') as f:
        f.write(f"_base_ = '{osp.join(repo_root, parent)}'\n{body}")
    return path


def assert_fine_tuned(log: str, reinitialised: dict):
    """The log names exactly ``reinitialised`` (key -> 'checkpoint (..) vs
    model (..)') as the head tensors left at their initialisation, and every
    other checkpoint tensor as loaded."""
    found = LOADED.search(log)
    assert found, log[-3000:]
    _, used, total, missing = found.groups()
    assert int(used) == int(total) - len(reinitialised)
    assert missing == '0'
    assert (f'fine-tuning: {len(reinitialised)} head tensors of another size'
            in log)
    listed = dict(re.findall(r'^\s{4}(\S+): (checkpoint \(.*?\) vs model '
                             r'\(.*?\))$', log, re.M))
    assert listed == reinitialised
    assert 'dropped ' not in log and 'shape mismatch ' not in log


def train_and_test(run_tool, workdir, config, checkpoint, env):
    tools = osp.join(REPO_ROOT, 'tools')
    train_log = run_tool([osp.join(tools, 'train.py'), config],
                         cwd=str(workdir), env=env)
    work_dir = osp.join(str(workdir), 'work_dirs',
                        osp.splitext(osp.basename(config))[0])
    test_log = run_tool([osp.join(tools, 'test.py'), config,
                         osp.join(work_dir, checkpoint)],
                        cwd=str(workdir), env=env)
    return train_log, test_log


@pytest.fixture
def user_env(seeded_torch_home):
    return dict(ENV, TORCH_HOME=seeded_torch_home)


DET_BODY = """
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(128, 96), keep_ratio=True),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 96), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor')),
]
train_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                        dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                      dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=1, val_interval=1)
default_hooks = dict(logger=dict(interval=1))
"""


def test_voc_retinanet_fine_tunes_from_the_paper_weights(
        run_tool, repo_root, tmp_path, user_env):
    write_voc(str(tmp_path / 'data' / 'my_voc'))
    config = write_user_config(
        tmp_path, repo_root, 'my_retinanet',
        'configs/det/own_data/retinanet_moganet_xt_voc.py', DET_BODY)
    browse = run_tool([osp.join(repo_root, 'tools/misc/browse_dataset.py'),
                       config, '--num', '2'], cwd=str(tmp_path), env=user_env)
    assert '2 pictures of the train pipeline' in browse
    assert len(list((tmp_path / 'work_dirs' / 'my_retinanet' /
                     'browse_train').glob('*.jpg'))) == 2
    train_log, test_log = train_and_test(run_tool, tmp_path, config,
                                         'epoch_1.pth', user_env)
    assert ("fine-tuning: mogavision://retinanet_moganet_xt was trained on "
            "80 classes ['person', 'bicycle', 'car', 'motorcycle']... but "
            "the dataset has 1 ['building']" in train_log)
    assert_fine_tuned(train_log, {
        'bbox_head.retina_cls.weight':
            'checkpoint (720, 256, 3, 3) vs model (9, 256, 3, 3)',
        'bbox_head.retina_cls.bias': 'checkpoint (720,) vs model (9,)'})
    assert re.search(r'Epoch\(train\) \[1\]\[3/3\].*loss: \d', train_log)
    assert re.search(r'pascal_voc/mAP: \d', test_log)


SEG_BODY = """
model = dict(data_preprocessor=dict(size=(96, 128)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mogavision.AlignResize', scale=(128, 96), keep_ratio=True,
         size_divisor=32),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
# the user's label maps are <name>_mask.png
train_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                        dataset=dict(seg_map_suffix='_mask.png',
                                     pipeline=train_pipeline))
val_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                      dataset=dict(seg_map_suffix='_mask.png',
                                   pipeline=test_pipeline))
test_dataloader = val_dataloader
train_cfg = dict(max_iters=2, val_interval=2)
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval=2, save_best=None))
"""


def test_seg_folders_fine_tune_from_the_paper_weights(
        run_tool, repo_root, tmp_path, user_env):
    write_seg_folders(str(tmp_path / 'data' / 'my_seg'))
    config = write_user_config(
        tmp_path, repo_root, 'my_fpn',
        'configs/seg/own_data/semantic_fpn_moganet_xt_folders.py', SEG_BODY)
    train_log, test_log = train_and_test(run_tool, tmp_path, config,
                                         'iter_2.pth', user_env)
    assert_fine_tuned(train_log, {
        'decode_head.conv_seg.weight':
            'checkpoint (150, 128, 1, 1) vs model (3, 128, 1, 1)',
        'decode_head.conv_seg.bias': 'checkpoint (150,) vs model (3,)'})
    assert re.search(r'Iter\(train\) \[2/2\].*loss: \d', train_log)
    assert re.search(r'mIoU: \d', test_log)


POSE_BODY = """
train_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False)
val_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False)
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=1, val_interval=1)
default_hooks = dict(logger=dict(interval=1))
"""


def test_own_keypoints_fine_tune_from_the_paper_weights(
        run_tool, repo_root, tmp_path, user_env):
    write_face_keypoints(str(tmp_path / 'data' / 'my_pose'))
    config = write_user_config(
        tmp_path, repo_root, 'my_pose',
        'configs/pose/own_data/topdown_heatmap_moganet_xt_256x192_'
        'my-keypoints.py', POSE_BODY)
    train_log, test_log = train_and_test(run_tool, tmp_path, config,
                                         'epoch_1.pth', user_env)
    assert_fine_tuned(train_log, {
        'head.final_layer.weight':
            'checkpoint (17, 256, 1, 1) vs model (5, 256, 1, 1)',
        'head.final_layer.bias': 'checkpoint (17,) vs model (5,)'})
    assert re.search(r'Epoch\(train\) \[1\]\[2/2\].*loss: \d', train_log)
    assert re.search(r'coco/AP: \d', test_log)


CLS_BODY = """
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False)
val_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False)
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=1, val_interval=1)
default_hooks = dict(logger=dict(interval=1))
"""


def test_class_folders_fine_tune_from_the_imagenet_weights(
        run_tool, repo_root, tmp_path, user_env):
    write_class_folders(str(tmp_path / 'data' / 'my_images'))
    config = write_user_config(
        tmp_path, repo_root, 'my_classifier',
        'configs/cls/own_data/moganet_xt_224_folders.py', CLS_BODY)
    train_log, test_log = train_and_test(run_tool, tmp_path, config,
                                         'epoch_1.pth', user_env)
    assert_fine_tuned(train_log, {
        'head.fc.weight': 'checkpoint (1000, 192) vs model (3, 192)',
        'head.fc.bias': 'checkpoint (1000,) vs model (3,)'})
    assert re.search(r'accuracy/top1: \d', test_log)


def test_a_head_left_at_80_classes_stops_train_before_building(
        run_tool, repo_root, tmp_path):
    """The mistake of the toolboxes' issue threads, through the tool:
    stopped at once, naming the key and the fix (no data needed)."""
    import os
    import subprocess
    import sys
    proc = subprocess.run(
        [sys.executable, 'tools/train.py',
         'configs/det/own_data/retinanet_moganet_xt_voc.py', '--cfg-options',
         'model.bbox_head.num_classes=80'], cwd=repo_root, text=True,
        capture_output=True, env=dict(os.environ, **ENV))
    assert proc.returncode != 0
    assert ('model.bbox_head.num_classes=80, but train_dataloader.dataset.'
            'metainfo has 1 classes' in proc.stderr)
    assert '--cfg-options model.bbox_head.num_classes=1' in proc.stderr
