# Mask R-CNN 1x, MogaNet-T (paper: 42.6 box AP, 39.1 mask AP).
_base_ = './mask_rcnn_moganet_xt.py'

model = dict(
    backbone=dict(
        arch='tiny',
        drop_path_rate=0.1,
        init_cfg=dict(checkpoint='mogavision://moganet_tiny')),
    neck=dict(in_channels=[32, 64, 128, 256]))
