# MogaNet-S, COCO top-down heatmap at 256x192; recipe in ./topdown_heatmap_moganet_xt_256x192.py.
_base_ = ['./topdown_heatmap_moganet_xt_256x192.py']

model = dict(
    backbone=dict(
        arch='small',
        drop_path_rate=0.2,
        init_cfg=dict(checkpoint='mogavision://moganet_small')),
    head=dict(in_channels=512))
