# UperNet + MogaNet-XT trained briefly on the built-in synthetic
# ADE20K-layout data, to measure what INT8 costs a segmentor that learned
# something (docs/int8.md; docs/analysis/int8_accuracy.sh writes the data and
# runs it). 8 classes, each a colour and a shape on noise: write_ade20k with
# num_classes=8 (ADE20K's label 0 is "other", ignored as in ADE20K).
_base_ = '../../../configs/seg/upernet_moganet_xt.py'

data_root = 'work_dirs/int8_accuracy/ade/'
crop_size = (128, 128)
data_preprocessor = dict(size=crop_size)
# Narrower heads than ADE20K's 512/256 channels: 8 classes, and a CPU.
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(init_cfg=None, drop_path_rate=0.),
    decode_head=dict(channels=128),
    auxiliary_head=dict(channels=64))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(160, 128), ratio_range=(0.75, 1.5),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mogavision.AlignResize', scale=(320, 128), keep_ratio=True,
         size_divisor=32),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=30),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=30, end=400,
         by_epoch=False)
]
train_cfg = dict(max_iters=400, val_interval=400)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=400, save_best=None, max_keep_ckpts=1))
randomness = dict(seed=0)
