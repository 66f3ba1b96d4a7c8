# MogaNet-T, COCO top-down heatmap at 384x288; recipe in ./topdown_heatmap_moganet_xt_384x288.py.
_base_ = ['./topdown_heatmap_moganet_xt_384x288.py']

model = dict(
    backbone=dict(
        arch='tiny',
        drop_path_rate=0.15,
        init_cfg=dict(checkpoint='mogavision://moganet_tiny')),
    head=dict(in_channels=256))
