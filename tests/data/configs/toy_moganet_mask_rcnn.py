# Mask R-CNN with a toy MogaNet and 32-channel heads on the synthetic COCO
# demo data (deployment tests): every module type and test_cfg of
# mask_rcnn_moganet_xt_synthetic.py, a fraction of the export time.
_base_ = ['../../../configs/det/mask_rcnn_moganet_xt_synthetic.py']

model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=[16, 16, 24, 32],
                  depths=[1, 1, 1, 1], ffn_ratios=[4, 4, 4, 4]),
        init_cfg=None),
    neck=dict(in_channels=[16, 16, 24, 32], out_channels=32),
    rpn_head=dict(in_channels=32, feat_channels=32),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=32),
        bbox_head=dict(in_channels=32, fc_out_channels=64),
        mask_roi_extractor=dict(out_channels=32),
        mask_head=dict(in_channels=32, conv_out_channels=32)))
