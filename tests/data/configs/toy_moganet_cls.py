# A tiny classification config for tool tests: MogaNet with a 4-stage custom
# arch on the synthetic ImageNet layout of mogavision.datasets.synthetic.
_base_ = ['mmpretrain::_base_/default_runtime.py']

data_root = 'data/toy_imagenet/'  # tests override with --cfg-options
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='mogavision.MogaNet',
        arch=dict(embed_dims=[8, 16, 24, 32], depths=[1, 1, 2, 1],
                  ffn_ratios=[4, 4, 4, 4]),
        drop_path_rate=0.1),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=4, in_channels=32,
              loss=dict(type='CrossEntropyLoss'), topk=(1, )))
data_preprocessor = dict(
    num_classes=4, mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
    to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.6, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=36, edge='short'),
    dict(type='CenterCrop', crop_size=32),
    dict(type='PackInputs'),
]
# The synthetic set's class folders (mogavision.datasets.synthetic.write_imagenet).
classes = ('n00000000', 'n00000001', 'n00000002', 'n00000003')
train_dataloader = dict(
    batch_size=4, num_workers=0,
    dataset=dict(type='ImageNet', data_root=data_root, split='train',
                 ann_file='meta/train.txt', data_prefix='train',
                 metainfo=dict(classes=classes),
                 pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(
    batch_size=4, num_workers=0,
    dataset=dict(type='ImageNet', data_root=data_root, split='val',
                 ann_file='meta/val.txt', data_prefix='val',
                 metainfo=dict(classes=classes),
                 pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05))
param_scheduler = [dict(type='MultiStepLR', by_epoch=False, milestones=[3])]
train_cfg = dict(by_epoch=False, max_iters=4, val_interval=4)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=2))
randomness = dict(seed=0, deterministic=True)
