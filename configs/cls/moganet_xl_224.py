# MogaNet-XL, ImageNet-1k 224x224 (8 GPUs x 64, EMA).
_base_ = './moganet_s_224.py'

model = dict(
    backbone=dict(arch='xlarge', drop_path_rate=0.4),
    head=dict(in_channels=960))
train_dataloader = dict(batch_size=64)
