# MogaNet-S on ImageNet-1k at 224x224: the release's DeiT-style recipe
# (8 GPUs x 128, AdamW lr 1e-3 at total batch 1024, 300 epochs and timm's 10
# cooldown epochs, EMA 0.9999).
# The root of the cls configs: the other variants inherit from this file.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='mogavision.MogaNet',
        arch='small',
        drop_path_rate=0.1,
        out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=512,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=.02, bias=0.)),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0),
    ]),
)

# Train: the base pipeline is the release's (bicubic RandomResizedCrop, flip,
# RandAugment m9-mstd0.5, random erasing 0.25). Test: crop ratio 0.9, i.e.
# short side round(224 / 0.9) = 249, then a 224 center crop.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='ResizeEdge',
        scale=249,
        edge='short',
        backend='pillow',
        interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=128)
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))

# The release trained with timm 0.6.12 (create_optimizer_v2): no weight decay
# on biases and 1-D parameters (norms) only; the (1, C, 1, 1) layer scales and
# ElementScale scales are decayed like the convolution weights.
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
    paramwise_cfg=dict(_delete_=True, bias_decay_mult=0., flat_decay_mult=0.))
# timm's cosine schedule as the release's train.py steps it, once per epoch:
# 5 warmup epochs from 1e-5, cosine over 300 epochs to min_lr (its phase
# counted from epoch 0), then timm's 10 cooldown epochs at min_lr, so the
# release trained 310 epochs.
param_scheduler = dict(
    _delete_=True,
    type='mogavision.TimmCosineLR',
    t_initial=300,
    lr_min=1e-5,
    warmup_t=5,
    warmup_lr_init=1e-5,
    by_epoch=True)
train_cfg = dict(by_epoch=True, max_epochs=310, val_interval=1)
auto_scale_lr = dict(base_batch_size=1024)

custom_hooks = [dict(type='EMAHook', momentum=1e-4, priority='ABOVE_NORMAL')]
