# RetinaNet 1x, MogaNet-B (paper: 47.7 box AP).
_base_ = './retinanet_moganet_xt.py'

model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.2,
        init_cfg=dict(checkpoint='mogavision://moganet_base')),
    neck=dict(in_channels=[64, 160, 320, 512]))
