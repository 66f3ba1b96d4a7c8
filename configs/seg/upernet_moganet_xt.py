# UperNet + MogaNet-XT, ADE20K 512x512, 160k iterations.
# Total batch 16 = 8 GPUs x 2 images, as the release; the lr assumes it.
_base_ = [
    'mmseg::_base_/models/upernet_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
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
        # configs); only the heads use SyncBN.
        init_cfg=dict(type='Pretrained',
                      checkpoint='mogavision://moganet_xtiny')),
    decode_head=dict(in_channels=[32, 64, 96, 192], num_classes=150),
    # FCN auxiliary head on stage index 2, loss weight 0.4 (from the base).
    auxiliary_head=dict(in_channels=96, num_classes=150))

# The release's test-time resize: keep-ratio to (2048, 512), then resize both
# sides to multiples of 32.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mogavision.AlignResize', scale=(2048, 512), keep_ratio=True,
         size_divisor=32),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs')
]
train_dataloader = dict(batch_size=2)  # per GPU, x 8 GPUs
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

# AdamW, lr 1e-4, wd 0.01; no weight decay on layer scales, the ElementScale
# ``scale`` parameters and norms.
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.0001, betas=(0.9, 0.999),
                   weight_decay=0.01),
    paramwise_cfg=dict(
        custom_keys={
            'layer_scale': dict(decay_mult=0.),
            'scale': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.)
        }))
# The release's (mmcv 1.x): lr * (1 - i / 160000) at iteration i, times a
# linear warmup from 1e-6 that reaches 1 at iteration 1500. Both run from
# iteration 0 and multiply; LinearLR and PolyLR reach their end values at
# `end - 1`, so end=1501 and end=160001.
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
         end=1501),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=0, end=160001,
         by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=160000,
                 val_interval=16000)
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=16000,
                    save_best='mIoU'))
# Linear scaling reference for --auto-scale-lr.
auto_scale_lr = dict(enable=False, base_batch_size=16)
