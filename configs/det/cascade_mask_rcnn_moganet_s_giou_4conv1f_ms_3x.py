# Cascade Mask R-CNN (GIoU, 4conv1fc) multi-scale 3x, MogaNet-S (paper: 51.7
# box AP, 45.1 mask AP): the cascade config with ConvFC box heads (4 shared
# convs with SyncBN + 1 fc), class-specific regression of decoded boxes under
# a GIoU loss, and a 1000-iteration warmup.
_base_ = './cascade_mask_rcnn_moganet_s_ms_3x.py'

model = dict(
    roi_head=dict(bbox_head=[
        dict(
            type='ConvFCBBoxHead',
            num_shared_convs=4,
            num_shared_fcs=1,
            in_channels=256,
            conv_out_channels=256,
            fc_out_channels=1024,
            roi_feat_size=7,
            num_classes=80,
            bbox_coder=dict(
                type='DeltaXYWHBBoxCoder',
                target_means=[0., 0., 0., 0.],
                target_stds=stds),
            reg_class_agnostic=False,
            reg_decoded_bbox=True,
            norm_cfg=dict(type='SyncBN', requires_grad=True),
            loss_cls=dict(
                type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
            loss_bbox=dict(type='GIoULoss', loss_weight=10.0))
        # The three cascade stages differ only in their target stds.
        for stds in ([0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1],
                     [0.033, 0.033, 0.067, 0.067])
    ]))

# The release's warmup_iters=1000: the full lr at iteration 1000 (LinearLR
# reaches its end factor at `end - 1`).
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
        end=1001),
    dict(
        type='MultiStepLR',
        begin=0,
        end=36,
        by_epoch=True,
        milestones=[27, 33],
        gamma=0.1)
]
