# UperNet with a toy MogaNet and slim heads (deployment tests).
_base_ = ['../../../configs/seg/upernet_moganet_xt.py']

model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=[8, 16, 24, 32],
                  depths=[1, 1, 2, 1],
                  ffn_ratios=[4, 4, 4, 4]),
        init_cfg=None),
    decode_head=dict(in_channels=[8, 16, 24, 32], channels=16),
    auxiliary_head=dict(in_channels=24, channels=8))
