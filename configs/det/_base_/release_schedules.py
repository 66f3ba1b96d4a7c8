# The release's detection schedules (mmcv 1.x): linear warmup from 0.001 x lr
# reaching the full lr at iteration 500, then x0.1 steps. mmengine's LinearLR
# reaches its end factor at `end - 1`, hence end=501. Variables with their own
# names (not ``param_scheduler``) so that this file can sit next to mmdet's
# bases; configs pick one: ``param_scheduler = _base_.release_1x_schedule``.
_warmup = dict(
    type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=501)

# 12 epochs, x0.1 after epochs 8 and 11.
release_1x_schedule = [
    _warmup,
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True,
         milestones=[8, 11], gamma=0.1)
]
# 36 epochs, x0.1 after epochs 27 and 33.
release_3x_schedule = [
    _warmup,
    dict(type='MultiStepLR', begin=0, end=36, by_epoch=True,
         milestones=[27, 33], gamma=0.1)
]
