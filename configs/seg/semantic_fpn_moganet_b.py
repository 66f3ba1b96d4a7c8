# Semantic FPN + MogaNet-B, ADE20K 512x512, 80k iterations (8 GPUs x 4).
_base_ = './semantic_fpn_moganet_xt.py'

model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.2,
        init_cfg=dict(checkpoint='mogavision://moganet_base')),
    neck=dict(in_channels=[64, 160, 320, 512]))
