# MogaNet-B, ImageNet-1k 224x224 (8 GPUs x 128, EMA).
_base_ = './moganet_s_224.py'

model = dict(backbone=dict(arch='base', drop_path_rate=0.2))
