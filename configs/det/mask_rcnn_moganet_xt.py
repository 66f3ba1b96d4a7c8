# Mask R-CNN 1x with MogaNet-XT (paper: 40.7 box AP, 37.6 mask AP). Only what
# differs from mmdet's ResNet-50 config: backbone, FPN inputs and AdamW.
_base_ = [
    'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
    './_base_/release_schedules.py'
]

model = dict(
    backbone=dict(
        _delete_=True,
        type='mogavision.MogaNet',
        arch='xtiny',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.05,
        init_cfg=dict(
            type='Pretrained', checkpoint='mogavision://moganet_xtiny')),
    neck=dict(in_channels=[32, 64, 96, 192]))

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

param_scheduler = _base_.release_1x_schedule

# 8 GPUs x 2 images
auto_scale_lr = dict(enable=False, base_batch_size=16)
