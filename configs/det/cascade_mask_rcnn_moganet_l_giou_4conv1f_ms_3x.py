# Cascade Mask R-CNN (GIoU, 4conv1fc) multi-scale 3x, MogaNet-L (paper: 53.3
# box AP, 46.1 mask AP).
_base_ = './cascade_mask_rcnn_moganet_b_giou_4conv1f_ms_3x.py'

model = dict(
    backbone=dict(
        arch='large',
        drop_path_rate=0.3,
        init_cfg=dict(checkpoint='mogavision://moganet_large')),
    neck=dict(in_channels=[64, 160, 320, 640]))
