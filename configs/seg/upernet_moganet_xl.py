# UperNet + MogaNet-XL, ADE20K 512x512, 160k iterations (8 GPUs x 2).
_base_ = './upernet_moganet_xt.py'

model = dict(
    backbone=dict(
        arch='xlarge',
        drop_path_rate=0.4,
        init_cfg=dict(checkpoint='mogavision://moganet_xlarge')),
    decode_head=dict(in_channels=[96, 192, 480, 960]),
    auxiliary_head=dict(in_channels=480))
