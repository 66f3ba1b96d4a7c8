# UperNet + MogaNet-L, ADE20K 512x512, 160k iterations (8 GPUs x 2).
_base_ = './upernet_moganet_xt.py'

model = dict(
    backbone=dict(
        arch='large',
        drop_path_rate=0.3,
        init_cfg=dict(checkpoint='mogavision://moganet_large')),
    decode_head=dict(in_channels=[64, 160, 320, 640]),
    auxiliary_head=dict(in_channels=320))
