# Mask R-CNN 1x, MogaNet-L (paper: 49.4 box AP, 44.2 mask AP).
_base_ = './mask_rcnn_moganet_xt.py'

model = dict(
    backbone=dict(
        arch='large',
        drop_path_rate=0.3,
        init_cfg=dict(checkpoint='mogavision://moganet_large')),
    neck=dict(in_channels=[64, 160, 320, 640]))

optim_wrapper = dict(optimizer=dict(lr=1e-4))
