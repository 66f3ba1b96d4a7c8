# Boxes only: your COCO json has no masks (the Mask R-CNN or Cascade user
# with boxes only). The mask branch is removed; the paper's Mask R-CNN
# weights still give the backbone, neck, RPN and box head (the mask head's
# tensors are reported as dropped). See docs/own_data.md.
_base_ = './mask_rcnn_moganet_xt_coco.py'

model = dict(roi_head=dict(mask_roi_extractor=None, mask_head=None))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor')),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(metric='bbox')
test_evaluator = val_evaluator
