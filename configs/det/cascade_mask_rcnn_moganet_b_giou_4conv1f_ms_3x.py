# Cascade Mask R-CNN (GIoU, 4conv1fc) multi-scale 3x, MogaNet-B (paper: 52.6
# box AP, 46.0 mask AP): lr 1e-4 with the release's layer-wise lr decay.
_base_ = './cascade_mask_rcnn_moganet_s_giou_4conv1f_ms_3x.py'

model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.2,
        init_cfg=dict(checkpoint='mogavision://moganet_base')),
    neck=dict(in_channels=[64, 160, 320, 512]))

optim_wrapper = dict(
    constructor='mogavision.LayerDecayOptimWrapperConstructor',
    optimizer=dict(lr=1e-4),
    # Replaces the custom_keys: the constructor sets lr per layer and, as
    # the release, no weight decay on biases and on parameters that are 1-D
    # once squeezed (norms, layer scales, ElementScale scales).
    paramwise_cfg=dict(_delete_=True, decay_rate=0.8, num_layers=12))
