# Mask R-CNN 1x, MogaNet-B (paper: 49.0 box AP, 43.8 mask AP).
_base_ = './mask_rcnn_moganet_xt.py'

model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.2,
        init_cfg=dict(checkpoint='mogavision://moganet_base')),
    neck=dict(in_channels=[64, 160, 320, 512]))

optim_wrapper = dict(optimizer=dict(lr=1e-4))
