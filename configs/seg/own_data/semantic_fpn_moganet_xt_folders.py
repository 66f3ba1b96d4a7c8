# Fine-tune Semantic FPN + MogaNet-XT (ADE20K, the paper's weights) on your
# own segmentation folders (mmseg's BaseSegDataset):
#   data/my_seg/img_dir/{train,val}/<name>.jpg
#   data/my_seg/ann_dir/{train,val}/<name>.png  (one class index a pixel)
# Change: data_root, classes, the suffixes, reduce_zero_label and the ignore
# index as your label maps need. Loading: the classifier conv
# decode_head.conv_seg keeps its initialisation and is listed in the log.
# The same lines fit upernet_moganet_xt.py (with auxiliary_head num_classes).
# See docs/own_data.md.
_base_ = '../semantic_fpn_moganet_xt.py'

data_root = 'data/my_seg/'
# Label value i is classes[i]; 255 marks unlabelled pixels (ignore_index).
classes = ('background', 'road', 'car')
metainfo = dict(classes=classes,
                palette=[(0, 0, 0), (128, 64, 128), (0, 0, 142)])
crop_size = (512, 512)

model = dict(
    backbone=dict(init_cfg=None),  # load_from brings the backbone too
    decode_head=dict(num_classes=len(classes), ignore_index=255))
load_from = 'mogavision://semantic_fpn_moganet_xt'

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mogavision.AlignResize', scale=(2048, 512), keep_ratio=True,
         size_divisor=32),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
folders = dict(
    _delete_=True,
    type='BaseSegDataset',
    data_root=data_root,
    metainfo=metainfo,
    img_suffix='.jpg',
    seg_map_suffix='.png',
    # True when 0 means "unlabelled" and classes start at 1 (as ADE20K).
    reduce_zero_label=False)
train_dataloader = dict(dataset=dict(
    folders, pipeline=train_pipeline,
    data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train')))
val_dataloader = dict(dataset=dict(
    folders, pipeline=test_pipeline,
    data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val')))
test_dataloader = val_dataloader
