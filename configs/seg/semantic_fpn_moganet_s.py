# Semantic FPN + MogaNet-S, ADE20K 512x512, 80k iterations (8 GPUs x 4).
_base_ = './semantic_fpn_moganet_xt.py'

model = dict(
    backbone=dict(
        arch='small',
        drop_path_rate=0.1,
        init_cfg=dict(checkpoint='mogavision://moganet_small')),
    neck=dict(in_channels=[64, 128, 320, 512]))
