# Top-down heatmap pose + MogaNet-XT trained briefly on the built-in
# synthetic COCO-keypoints data (17 coloured keypoints joined by lines on
# noise), to measure what INT8 costs a pose model that learned something
# (docs/int8.md; docs/analysis/int8_accuracy.sh writes the data and runs it).
# The 256x192 input and the release's pipeline, flip test included.
_base_ = '../../../configs/pose/topdown_heatmap_moganet_xt_256x192.py'

data_root = 'work_dirs/int8_accuracy/coco/'
model = dict(backbone=dict(init_cfg=None, drop_path_rate=0.))

train_dataloader = dict(
    batch_size=16, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root))
val_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root,
                 bbox_file=data_root + 'person_detection_results/'
                 'COCO_val2017_detections_AP_H_56_person.json'))
test_dataloader = val_dataloader
val_evaluator = dict(
    ann_file=data_root + 'annotations/person_keypoints_val2017.json')
test_evaluator = val_evaluator

param_scheduler = [
    dict(type='LinearLR', begin=0, end=30, start_factor=0.01,
         by_epoch=False),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=30, end=300,
         T_max=270, eta_min=1e-5),
]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=300,
                 val_interval=300)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(by_epoch=False, interval=300, save_best=None,
                    max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
