# The built-in tiny example (`make demo`): Mask R-CNN + MogaNet-XT trained
# from scratch on the synthetic COCO-format dataset that
# tools/demo/run_demo.py writes: squares, circles and triangles (one colour
# each, clear of each other) on noise, 320x256 images seen at 192x154.
_base_ = './mask_rcnn_moganet_xt.py'

data_root = 'work_dirs/demo/coco/'
classes = ('square', 'circle', 'triangle')  # also the shapes drawn
# Drawing colours that stand out on the shapes' own (red, green, blue).
metainfo = dict(classes=classes,
                palette=[(255, 255, 0), (255, 0, 255), (0, 255, 255)])
image_size = (320, 256)  # the images written (and drawn)
image_scale = (192, 160)  # the network's input

model = dict(
    backbone=dict(init_cfg=None, drop_path_rate=0.),
    # 1-3 big objects an image: a 128-channel neck and heads (mmdet's 256
    # are for COCO), fewer proposals and sampled RoIs than COCO's crowds
    # need. One thread, 320x256: 4.2 CPU-s a step instead of 8.3 (256
    # channels, 128 RoIs); the 192x160 input halves it again.
    neck=dict(out_channels=128),
    rpn_head=dict(in_channels=128, feat_channels=128),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=128),
        bbox_head=dict(in_channels=128, num_classes=len(classes)),
        mask_roi_extractor=dict(out_channels=128),
        mask_head=dict(in_channels=128, conv_out_channels=128,
                       num_classes=len(classes))),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(rpn=dict(nms_pre=1000, max_per_img=300)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor')),
]
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(lr=2e-3),
                     clip_grad=dict(max_norm=10., norm_type=2))
max_epochs = 6
# The demo's second step (tools/test.py) evaluates the last checkpoint, so
# training skips its own validation (val_begin after the last epoch).
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs,
                 val_begin=max_epochs + 1)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs,
         convert_to_iter_based=True, eta_min=2e-5),
]
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1),
    # the demo's picture: one detection per object above this score (at 0.5
    # a few right-class boxes of the wrong extent scored up to 0.81)
    visualization=dict(score_thr=0.85))
# Bit-identical reruns on one machine and thread count (torch's
# deterministic algorithms); other CPUs or thread counts round differently.
randomness = dict(seed=0, deterministic=True)
