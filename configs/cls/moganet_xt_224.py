# MogaNet-XT, ImageNet-1k 224x224 (8 GPUs x 128), the light recipe of T.
_base_ = './moganet_t_224.py'

model = dict(
    backbone=dict(arch='xtiny', drop_path_rate=0.05),
    head=dict(in_channels=192))
optim_wrapper = dict(optimizer=dict(weight_decay=0.03))
