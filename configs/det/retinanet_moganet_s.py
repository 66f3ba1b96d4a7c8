# RetinaNet 1x, MogaNet-S (paper: 45.8 box AP).
_base_ = './retinanet_moganet_xt.py'

model = dict(
    backbone=dict(
        arch='small',
        drop_path_rate=0.1,
        init_cfg=dict(checkpoint='mogavision://moganet_small')),
    neck=dict(in_channels=[64, 128, 320, 512]))
