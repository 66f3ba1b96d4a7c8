# RetinaNet 1x with MogaNet-XT (paper: 39.7 box AP). Only what differs from
# mmdet's ResNet-50 config: backbone, FPN inputs and the AdamW optimizer.
_base_ = [
    'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py',
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
    # start_level=1, add_extra_convs='on_input', num_outs=5 come from mmdet.
    neck=dict(in_channels=[32, 64, 96, 192]))

optim_wrapper = dict(
    optimizer=dict(
        _delete_=True,
        type='AdamW',
        lr=1e-4,
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
