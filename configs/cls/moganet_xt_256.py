# MogaNet-XT, ImageNet-1k trained and tested at 256x256.
_base_ = './moganet_t_256.py'

model = dict(
    backbone=dict(arch='xtiny', drop_path_rate=0.05),
    head=dict(in_channels=192))
optim_wrapper = dict(optimizer=dict(weight_decay=0.03))
