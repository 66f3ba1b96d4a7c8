# MogaNet-XT + SimpleBaseline heatmap head (3 deconv layers on the stride-32
# feature), COCO top-down pose at 256x192 with the release's recipe.
# mmpose's ResNet-50 heatmap config already holds the runtime, the 210-epoch
# schedule, the MSE loss with target weight, flip test with shifted heatmap,
# the AP-56 person detections and CocoMetric; only the differences are here.
_base_ = ['mmpose::body_2d_keypoint/topdown_heatmap/coco/'
          'td-hm_res50_8xb64-210e_coco-256x192.py']

optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3, weight_decay=0.))
# The release's warmup reaches the full lr at iteration 500; LinearLR reaches
# its end factor at `end - 1`, so end=501 (mmpose's base has 500).
param_scheduler = [
    dict(type='LinearLR', begin=0, end=501, start_factor=0.001,
         by_epoch=False),
    dict(type='MultiStepLR', begin=0, end=210, milestones=[170, 200],
         gamma=0.1, by_epoch=True)
]
# 8 GPUs x 32 images.
auto_scale_lr = dict(base_batch_size=256)

model = dict(
    backbone=dict(
        _delete_=True,
        type='mogavision.MogaNet',
        arch='xtiny',
        out_indices=(3, ),
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained',
                      checkpoint='mogavision://moganet_xtiny')),
    head=dict(in_channels=192))

# Same codec as the base; restated because the pipeline below refers to it.
codec = dict(
    type='MSRAHeatmap', input_size=(192, 256), heatmap_size=(48, 64), sigma=2)
# The release (mmpose 0.x) used TopDownGetRandomScaleRotation(rot_factor=40,
# scale_factor=0.5): rotation ~ N(0, 40 deg) clipped to +-80 deg with prob
# 0.6, scale ~ N(1, 0.5) clipped to [0.5, 1.5]. In mmpose 1.x the same ranges
# are RandomBBoxTransform(rotate_factor=80, scale_factor=(0.5, 1.5)); 1.x's
# rotate_factor is the bound, not the standard deviation.
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomHalfBody', prob=0.3),
    dict(type='RandomBBoxTransform', rotate_factor=80.,
         scale_factor=(0.5, 1.5)),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs')
]
train_dataloader = dict(batch_size=32, dataset=dict(pipeline=train_pipeline))

# mmpose's visualizer with its keypoint drawing fixed for numpy 2
# (tools/test.py --show-dir, tools/demo/image_demo.py)
visualizer = dict(type='mogavision.PoseLocalVisualizer')
