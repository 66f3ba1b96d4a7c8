# Mask R-CNN multi-scale 3x, MogaNet-T (paper: 45.3 box AP, 40.7 mask AP):
# the 1x config with DETR-style augmentation and a 36-epoch schedule.
_base_ = ['./mask_rcnn_moganet_t.py', './_base_/ms_crop_3x.py']

train_pipeline = _base_.ms_crop_train_pipeline
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

train_cfg = dict(max_epochs=36)
param_scheduler = _base_.release_3x_schedule
