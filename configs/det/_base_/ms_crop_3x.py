# Shared by the multi-scale 3x rows (Mask R-CNN and Cascade Mask R-CNN): the
# DETR-style augmentation of the release. It is a variable with its own name
# (not ``train_pipeline``) so that it can sit next to mmdet's bases; configs
# use it as ``_base_.ms_crop_train_pipeline``.
_ms_scales = [(480, 1333), (512, 1333), (544, 1333), (576, 1333),
              (608, 1333), (640, 1333), (672, 1333), (704, 1333),
              (736, 1333), (768, 1333), (800, 1333)]

ms_crop_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomChoice',
        transforms=[
            # Short side 480-800 (step 32), long side at most 1333, or ...
            [dict(type='RandomChoiceResize', scales=_ms_scales,
                  keep_ratio=True)],
            # ... resize to 400/500/600, crop 384-600, then resize 480-800.
            [
                dict(
                    type='RandomChoiceResize',
                    scales=[(400, 1333), (500, 1333), (600, 1333)],
                    keep_ratio=True),
                dict(
                    type='RandomCrop',
                    crop_type='absolute_range',
                    crop_size=(384, 600),
                    allow_negative_crop=True),
                dict(
                    type='RandomChoiceResize',
                    scales=_ms_scales,
                    keep_ratio=True)
            ]
        ]),
    dict(type='PackDetInputs')
]
