# RetinaNet 1x, MogaNet-L (paper: 48.7 box AP).
_base_ = './retinanet_moganet_xt.py'

model = dict(
    backbone=dict(
        arch='large',
        drop_path_rate=0.3,
        init_cfg=dict(checkpoint='mogavision://moganet_large')),
    neck=dict(in_channels=[64, 160, 320, 640]))
