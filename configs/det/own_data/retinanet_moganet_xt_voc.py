# Fine-tune RetinaNet + MogaNet-XT (COCO, the paper's weights) on your own
# Pascal-VOC-style dataset (boxes in one XML file per image):
#   data/my_voc/JPEGImages/<id>.jpg, data/my_voc/Annotations/<id>.xml,
#   data/my_voc/ImageSets/Main/{train,val}.txt (one <id> a line)
# Change: data_root and classes (the <name> of your objects). Loading: the
# classification conv bbox_head.retina_cls (one output per anchor and class)
# keeps its initialisation and is listed in the log. See docs/own_data.md.
_base_ = '../retinanet_moganet_xt.py'

data_root = 'data/my_voc/'
classes = ('building', )  # = the <name> of the XML objects
metainfo = dict(classes=classes)

model = dict(
    backbone=dict(init_cfg=None),  # load_from brings the backbone too
    bbox_head=dict(num_classes=len(classes)))
load_from = 'mogavision://retinanet_moganet_xt'

# The base's box-only pipelines (COCO's, 1333x800) fit VOC boxes as they are.
voc = dict(
    _delete_=True,
    type='XMLDataset',  # mmdet's reader of VOC-style XML files
    data_root=data_root,
    metainfo=metainfo,
    data_prefix=dict(sub_data_root=''))
train_dataloader = dict(dataset=dict(
    voc, ann_file='ImageSets/Main/train.txt', pipeline=_base_.train_pipeline,
    filter_cfg=dict(filter_empty_gt=True, min_size=32)))
val_dataloader = dict(dataset=dict(
    voc, ann_file='ImageSets/Main/val.txt', pipeline=_base_.test_pipeline,
    test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='VOCMetric', metric='mAP',
                     eval_mode='11points')
test_evaluator = val_evaluator
