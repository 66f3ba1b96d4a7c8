# Top-down heatmap pose with a toy MogaNet and slim deconvs (deployment
# tests); codec, flip test and pipelines are the 256x192 config's.
_base_ = ['../../../configs/pose/topdown_heatmap_moganet_xt_256x192.py']

model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=[8, 16, 24, 32],
                  depths=[1, 1, 2, 1],
                  ffn_ratios=[4, 4, 4, 4]),
        init_cfg=None),
    head=dict(in_channels=32, deconv_out_channels=(16, 16, 16)))
