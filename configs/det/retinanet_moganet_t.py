# RetinaNet 1x, MogaNet-T (paper: 41.4 box AP).
_base_ = './retinanet_moganet_xt.py'

model = dict(
    backbone=dict(
        arch='tiny',
        drop_path_rate=0.1,
        init_cfg=dict(checkpoint='mogavision://moganet_tiny')),
    neck=dict(in_channels=[32, 64, 128, 256]))
