# MogaNet-XT on the same synthetic data and recipe as the ResNet-18 demo
# (resnet18_synthetic.py), for the README's analysis pictures.
_base_ = './resnet18_synthetic.py'

model = dict(
    backbone=dict(_delete_=True, type='mogavision.MogaNet', arch='xtiny',
                  drop_path_rate=0.05),
    head=dict(in_channels=192))
