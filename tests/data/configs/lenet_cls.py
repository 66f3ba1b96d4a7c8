# LeNet-5 on 1x32x32 inputs: FLOPs small enough to count by hand.
_base_ = ['mmpretrain::_base_/default_runtime.py']
model = dict(
    type='ImageClassifier',
    backbone=dict(type='LeNet5', num_classes=10),
    head=dict(type='ClsHead'))
test_dataloader = dict(dataset=dict(pipeline=[
    dict(type='CenterCrop', crop_size=32)]))
