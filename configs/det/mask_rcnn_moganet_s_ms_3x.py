# Mask R-CNN MS 3x, MogaNet-S (paper: 48.5 box AP, 43.1 mask AP).
_base_ = './mask_rcnn_moganet_t_ms_3x.py'

model = dict(
    backbone=dict(
        arch='small',
        drop_path_rate=0.1,
        init_cfg=dict(checkpoint='mogavision://moganet_small')),
    neck=dict(in_channels=[64, 128, 320, 512]))
