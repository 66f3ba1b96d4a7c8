# Mask R-CNN 1x, MogaNet-S (paper: 46.6 box AP, 42.2 mask AP).
_base_ = './mask_rcnn_moganet_xt.py'

model = dict(
    backbone=dict(
        arch='small',
        drop_path_rate=0.1,
        init_cfg=dict(checkpoint='mogavision://moganet_small')),
    neck=dict(in_channels=[64, 128, 320, 512]))
