# MogaNet-B, COCO top-down heatmap at 256x192; recipe in ./topdown_heatmap_moganet_xt_256x192.py.
_base_ = ['./topdown_heatmap_moganet_xt_256x192.py']

model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.3,
        init_cfg=dict(checkpoint='mogavision://moganet_base')),
    head=dict(in_channels=512))
