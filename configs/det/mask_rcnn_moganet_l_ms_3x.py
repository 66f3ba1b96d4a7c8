# Mask R-CNN MS 3x, MogaNet-L (paper: 50.6 box AP, 44.6 mask AP).
_base_ = './mask_rcnn_moganet_t_ms_3x.py'

model = dict(
    backbone=dict(
        arch='large',
        drop_path_rate=0.3,
        init_cfg=dict(checkpoint='mogavision://moganet_large')),
    neck=dict(in_channels=[64, 160, 320, 640]))
