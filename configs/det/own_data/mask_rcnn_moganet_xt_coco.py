# Fine-tune Mask R-CNN + MogaNet-XT (COCO, the paper's weights) on your own
# COCO-format instance dataset: boxes and polygon (or RLE) masks in
#   data/my_coco/annotations/{train,val}.json, images in data/my_coco/{train,val}/
# Change: data_root, classes (the json's category names), and the file names.
# Loading: every tensor whose shape matches is taken from the checkpoint; the
# class-dependent ones (roi_head.bbox_head.fc_cls/fc_reg, mask_head.conv_logits)
# keep their initialisation and are listed in the log. See docs/own_data.md.
_base_ = '../mask_rcnn_moganet_xt.py'

data_root = 'data/my_coco/'
classes = ('balloon', 'kite')  # = the "categories" names of the json
metainfo = dict(classes=classes)

model = dict(
    backbone=dict(init_cfg=None),  # load_from brings the backbone too
    roi_head=dict(bbox_head=dict(num_classes=len(classes)),
                  mask_head=dict(num_classes=len(classes))))
load_from = 'mogavision://mask_rcnn_moganet_xt'

train_dataloader = dict(
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/train.json',
                 data_prefix=dict(img='train/')))
val_dataloader = dict(
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/val.json',
                 data_prefix=dict(img='val/')))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/val.json')
test_evaluator = val_evaluator
