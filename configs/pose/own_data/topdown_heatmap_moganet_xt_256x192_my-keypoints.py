# Fine-tune the top-down heatmap MogaNet-XT (COCO keypoints, the paper's
# weights) on your own keypoint set, from a COCO-format keypoints json:
#   data/my_pose/annotations/{train,val}.json  (K keypoints an object, each
#   x, y, visibility; a "bbox" per object), images in data/my_pose/{train,val}/
# and a dataset_info file naming the K keypoints, their flip pairs and
# sigmas (my_keypoints.py beside this file). Change: data_root, the
# dataset_info file, and model.head.out_channels = K. Loading: the last
# layer head.final_layer (one heatmap per keypoint) keeps its initialisation
# and is listed in the log. See docs/own_data.md.
_base_ = '../topdown_heatmap_moganet_xt_256x192.py'

data_root = 'data/my_pose/'
metainfo = dict(from_file='{{fileDirname}}/my_keypoints.py')
num_keypoints = 5

model = dict(
    backbone=dict(init_cfg=None),  # load_from brings the backbone too
    head=dict(out_channels=num_keypoints))
load_from = 'mogavision://topdown_heatmap_moganet_xt_256x192'

train_dataloader = dict(
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/train.json',
                 data_prefix=dict(img='train/')))
# Evaluated on the annotated boxes (COCO's val uses a person detector's).
val_dataloader = dict(
    dataset=dict(data_root=data_root, metainfo=metainfo, bbox_file=None,
                 ann_file='annotations/val.json',
                 data_prefix=dict(img='val/')))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/val.json')
test_evaluator = val_evaluator
