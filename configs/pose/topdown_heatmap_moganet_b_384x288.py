# MogaNet-B at 384x288: drop path .4 (.3 at 256x192), as the release.
_base_ = ['./topdown_heatmap_moganet_xt_384x288.py']

model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.4,
        init_cfg=dict(checkpoint='mogavision://moganet_base')),
    head=dict(in_channels=512))
