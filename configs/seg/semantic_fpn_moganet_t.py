# Semantic FPN + MogaNet-T, ADE20K 512x512, 80k iterations (8 GPUs x 4).
_base_ = './semantic_fpn_moganet_xt.py'

model = dict(
    backbone=dict(
        arch='tiny',
        drop_path_rate=0.1,
        init_cfg=dict(checkpoint='mogavision://moganet_tiny')),
    neck=dict(in_channels=[32, 64, 128, 256]))
