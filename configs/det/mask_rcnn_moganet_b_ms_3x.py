# Mask R-CNN MS 3x, MogaNet-B (paper: 50.3 box AP, 44.4 mask AP).
_base_ = './mask_rcnn_moganet_t_ms_3x.py'

model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.3,
        init_cfg=dict(checkpoint='mogavision://moganet_base')),
    neck=dict(in_channels=[64, 160, 320, 512]))
