# UperNet + MogaNet-S, ADE20K 512x512, 160k iterations (8 GPUs x 2).
_base_ = './upernet_moganet_xt.py'

model = dict(
    backbone=dict(
        arch='small',
        drop_path_rate=0.1,
        init_cfg=dict(checkpoint='mogavision://moganet_small')),
    decode_head=dict(in_channels=[64, 128, 320, 512]),
    auxiliary_head=dict(in_channels=320))
