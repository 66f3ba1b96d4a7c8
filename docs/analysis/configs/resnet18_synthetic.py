# ResNet-18 exactly as mmpretrain ships it, trained briefly on the built-in
# synthetic ImageNet-layout data (8 classes of coloured shapes, 64x64 crops)
# to draw the README's analysis pictures; see docs/analysis/make_pictures.sh.
_base_ = 'mmpretrain::resnet/resnet18_8xb32_in1k.py'

data_root = 'work_dirs/analysis_demo/data/'
model = dict(head=dict(num_classes=8, topk=(1, )))
data_preprocessor = dict(num_classes=8)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.5, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=72, edge='short'),
    dict(type='CenterCrop', crop_size=64),
    dict(type='PackInputs'),
]
# The synthetic set's class folders (mogavision.datasets.synthetic.write_imagenet).
classes = ('n00000000', 'n00000001', 'n00000002', 'n00000003', 'n00000004', 'n00000005', 'n00000006', 'n00000007')
train_dataloader = dict(
    batch_size=32, num_workers=2,
    dataset=dict(type='ImageNet', data_root=data_root, split='train',
                 ann_file='meta/train.txt', data_prefix='train',
                 metainfo=dict(classes=classes),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32, num_workers=2,
    dataset=dict(type='ImageNet', data_root=data_root, split='val',
                 ann_file='meta/val.txt', data_prefix='val',
                 metainfo=dict(classes=classes),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator

# One short recipe for both demo models.
optim_wrapper = dict(
    _delete_=True,
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.05, by_epoch=False, end=15),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=15, T_max=135,
         eta_min=1e-5),
]
train_cfg = dict(_delete_=True, by_epoch=False, max_iters=150,
                 val_interval=150)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(by_epoch=False, interval=150, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False)
