# Swapping MogaNet into any mmdet config takes a backbone and FPN inputs.
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
model = dict(
    backbone=dict(_delete_=True, type='mogavision.MogaNet', arch='xtiny',
                  out_indices=(0, 1, 2, 3)),
    neck=dict(in_channels=[32, 64, 96, 192]))
