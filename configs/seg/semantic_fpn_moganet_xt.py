# Semantic FPN + MogaNet-XT, ADE20K 512x512, 80k iterations.
# Total batch 32 = 8 GPUs x 4 images, as the release; the lr assumes it.
_base_ = [
    'mmseg::_base_/models/fpn_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py',
]

crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mogavision.MogaNet',
        arch='xtiny',
        drop_path_rate=0.05,
        out_indices=(0, 1, 2, 3),
        # The release's backbone used plain BN (its wrapper ignored the norm
        # configs); only the neck and heads use SyncBN.
        init_cfg=dict(type='Pretrained',
                      checkpoint='mogavision://moganet_xtiny')),
    neck=dict(in_channels=[32, 64, 96, 192]),
    decode_head=dict(num_classes=150))

# The release's test-time resize: keep-ratio to (2048, 512), then resize both
# sides to multiples of 32.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mogavision.AlignResize', scale=(2048, 512), keep_ratio=True,
         size_divisor=32),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs')
]
train_dataloader = dict(batch_size=4)  # per GPU, x 8 GPUs
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

# AdamW, lr 2e-4, wd 1e-4, no parameter-wise rules (as the release's FPN).
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.0002, betas=(0.9, 0.999),
                   weight_decay=0.0001))
# The release's poly: lr * (1 - i / 80000) ** 0.9 at iteration i. PolyLR
# reaches eta_min at `end - 1`, so end=80001.
param_scheduler = [
    dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=80001,
         by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=80000,
                 val_interval=4000)
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=4000,
                    max_keep_ckpts=1, save_best='mIoU'))
# Linear scaling reference for --auto-scale-lr.
auto_scale_lr = dict(enable=False, base_batch_size=32)
