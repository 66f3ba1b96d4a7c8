# Mask R-CNN multi-scale 3x, MogaNet-T (paper: 45.3 box AP, 40.7 mask AP):
# the 1x config with DETR-style augmentation and a 36-epoch schedule.
_base_ = ['./mask_rcnn_moganet_t.py', './_base_/ms_crop_3x.py']

train_pipeline = _base_.ms_crop_train_pipeline
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

train_cfg = dict(max_epochs=36)
# The release's: warmup reaching the full lr at iteration 500 (LinearLR
# reaches its end factor at `end - 1`), x0.1 after epochs 27 and 33.
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
        end=501),
    dict(
        type='MultiStepLR',
        begin=0,
        end=36,
        by_epoch=True,
        milestones=[27, 33],
        gamma=0.1)
]
