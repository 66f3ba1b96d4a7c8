# Cascade Mask R-CNN multi-scale 3x, MogaNet-S (paper: 51.4 box AP, 44.9 mask
# AP). mmdet's cascade heads are the release's (Shared2FC, SmoothL1,
# class-agnostic regression); backbone, augmentation, schedule and AdamW
# differ.
_base_ = [
    'mmdet::cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py',
    './_base_/ms_crop_3x.py', './_base_/release_schedules.py'
]

model = dict(
    backbone=dict(
        _delete_=True,
        type='mogavision.MogaNet',
        arch='small',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.1,
        init_cfg=dict(
            type='Pretrained', checkpoint='mogavision://moganet_small')),
    neck=dict(in_channels=[64, 128, 320, 512]))

train_pipeline = _base_.ms_crop_train_pipeline
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

train_cfg = dict(max_epochs=36)
param_scheduler = _base_.release_3x_schedule

optim_wrapper = dict(
    optimizer=dict(
        _delete_=True,
        type='AdamW',
        lr=2e-4,
        betas=(0.9, 0.999),
        weight_decay=0.05),
    paramwise_cfg=dict(
        custom_keys={
            'layer_scale': dict(decay_mult=0.),
            'scale': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.)
        }))

# 8 GPUs x 2 images
auto_scale_lr = dict(enable=False, base_batch_size=16)
