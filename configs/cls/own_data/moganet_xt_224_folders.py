# Fine-tune MogaNet-XT (ImageNet-1k, the paper's weights) on your own images,
# one folder per class (mmpretrain's CustomDataset):
#   data/my_images/train/<class name>/*.jpg, data/my_images/val/<class name>/*.jpg
# Change: data_root and num_classes (the number of class folders; the class
# names are the folder names, sorted). Loading: the classifier head.fc keeps
# its initialisation and is listed in the log. The recipe is the paper's
# ImageNet one; shorten train_cfg.max_epochs (and the warmup) for a small
# dataset. See docs/own_data.md.
_base_ = '../moganet_xt_224.py'

data_root = 'data/my_images/'
num_classes = 3

model = dict(head=dict(num_classes=num_classes))
data_preprocessor = dict(num_classes=num_classes)  # mixup/cutmix labels
load_from = 'mogavision://moganet_xt_224'

train_dataloader = dict(
    dataset=dict(_delete_=True, type='CustomDataset', data_root=data_root,
                 data_prefix='train', pipeline=_base_.train_pipeline))
val_dataloader = dict(
    dataset=dict(_delete_=True, type='CustomDataset', data_root=data_root,
                 data_prefix='val', pipeline=_base_.test_pipeline))
test_dataloader = val_dataloader
# Top-1 only: ImageNet's top-5 needs 5 classes or more.
val_evaluator = dict(topk=(1, ))
test_evaluator = val_evaluator
