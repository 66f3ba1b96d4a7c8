# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""The paper's result tables, keyed by our config names (params in M, FLOPs
in G multiply-adds, as the paper reports them)."""
from typing import Optional

CLS = {  # ImageNet-1k top-1; params/MACs counted on the released code.
    'moganet_xt_224': dict(params=2.97, flops=0.80, top1=76.5),
    'moganet_xt_256': dict(params=2.97, flops=1.04, top1=77.2),
    'moganet_t_224': dict(params=5.20, flops=1.10, top1=79.0),
    'moganet_t_256': dict(params=5.20, flops=1.44, top1=79.6),
    'moganet_s_224': dict(params=25.3, flops=4.97, top1=83.4),
    'moganet_b_224': dict(params=43.9, flops=9.93, top1=84.3),
    'moganet_l_224': dict(params=82.5, flops=15.9, top1=84.7),
    'moganet_xl_224': dict(params=180.8, flops=34.5, top1=85.1),
}

DET = {  # COCO val2017, params/FLOPs of the detector at 1280x800.
    'retinanet_moganet_xt': dict(params=12.1, flops=167.2, box_ap=39.7),
    'retinanet_moganet_t': dict(params=14.4, flops=173.4, box_ap=41.4),
    'retinanet_moganet_s': dict(params=35.1, flops=253.0, box_ap=45.8),
    'retinanet_moganet_b': dict(params=53.5, flops=354.5, box_ap=47.7),
    'retinanet_moganet_l': dict(params=92.4, flops=476.8, box_ap=48.7),
    'mask_rcnn_moganet_xt': dict(params=22.8, flops=185.4, box_ap=40.7,
                                 mask_ap=37.6),
    'mask_rcnn_moganet_t': dict(params=25.0, flops=191.7, box_ap=42.6,
                                mask_ap=39.1),
    'mask_rcnn_moganet_s': dict(params=45.0, flops=271.6, box_ap=46.6,
                                mask_ap=42.2),
    'mask_rcnn_moganet_b': dict(params=63.4, flops=373.1, box_ap=49.0,
                                mask_ap=43.8),
    'mask_rcnn_moganet_l': dict(params=102.1, flops=495.3, box_ap=49.4,
                                mask_ap=44.2),
    'mask_rcnn_moganet_t_ms_3x': dict(params=25.0, flops=191.7, box_ap=45.3,
                                      mask_ap=40.7),
    'mask_rcnn_moganet_s_ms_3x': dict(params=45.0, flops=271.6, box_ap=48.5,
                                      mask_ap=43.1),
    'mask_rcnn_moganet_b_ms_3x': dict(params=63.4, flops=373.1, box_ap=50.3,
                                      mask_ap=44.4),
    # The release's table repeats B's figures here; L 1x's are the right ones.
    'mask_rcnn_moganet_l_ms_3x': dict(params=102.1, flops=495.3, box_ap=50.6,
                                      mask_ap=44.6),
    'cascade_mask_rcnn_moganet_s_ms_3x': dict(params=77.9, flops=405.4,
                                              box_ap=51.4, mask_ap=44.9),
    'cascade_mask_rcnn_moganet_s_giou_4conv1f_ms_3x': dict(
        params=82.8, flops=750.2, box_ap=51.7, mask_ap=45.1),
    'cascade_mask_rcnn_moganet_b_giou_4conv1f_ms_3x': dict(
        params=101.2, flops=851.6, box_ap=52.6, mask_ap=46.0),
    'cascade_mask_rcnn_moganet_l_giou_4conv1f_ms_3x': dict(
        params=139.9, flops=973.8, box_ap=53.3, mask_ap=46.1),
}

SEG = {  # ADE20K val single scale, params/FLOPs at 2048x512.
    'semantic_fpn_moganet_xt': dict(params=6.9, flops=101.4, miou=40.3,
                                    macc=52.4),
    'semantic_fpn_moganet_t': dict(params=9.1, flops=107.8, miou=43.1,
                                   macc=55.4),
    'semantic_fpn_moganet_s': dict(params=29.1, flops=189.7, miou=47.7,
                                   macc=59.8),
    'semantic_fpn_moganet_b': dict(params=47.5, flops=293.6, miou=49.3,
                                   macc=61.6),
    'semantic_fpn_moganet_l': dict(params=86.2, flops=418.7, miou=50.2,
                                   macc=63.0),
    'upernet_moganet_xt': dict(params=30.4, flops=855.7, miou=42.2,
                               macc=55.1),
    'upernet_moganet_t': dict(params=33.1, flops=862.4, miou=43.7, macc=57.1),
    'upernet_moganet_s': dict(params=55.3, flops=946.4, miou=49.2, macc=61.6),
    'upernet_moganet_b': dict(params=73.7, flops=1050.4, miou=50.1,
                              macc=63.4),
    'upernet_moganet_l': dict(params=113.2, flops=1176.1, miou=50.9,
                              macc=63.5),
}

POSE = {  # COCO val2017 with AP-56 person detections.
    'topdown_heatmap_moganet_xt_256x192': dict(
        params=5.6, flops=1.8, ap=72.1, ap50=89.7, ap75=80.1, ar=77.7),
    'topdown_heatmap_moganet_xt_384x288': dict(
        params=5.6, flops=4.2, ap=74.7, ap50=90.1, ap75=81.3, ar=79.9),
    'topdown_heatmap_moganet_t_256x192': dict(
        params=8.1, flops=2.2, ap=73.2, ap50=90.1, ap75=81.0, ar=78.8),
    'topdown_heatmap_moganet_t_384x288': dict(
        params=8.1, flops=4.9, ap=75.7, ap50=90.6, ap75=82.6, ar=80.9),
    'topdown_heatmap_moganet_s_256x192': dict(
        params=29.0, flops=6.0, ap=74.9, ap50=90.7, ap75=82.8, ar=80.1),
    'topdown_heatmap_moganet_s_384x288': dict(
        params=29.0, flops=13.5, ap=76.4, ap50=91.0, ap75=83.3, ar=81.4),
    'topdown_heatmap_moganet_b_256x192': dict(
        params=47.4, flops=10.9, ap=75.3, ap50=90.9, ap75=83.3, ar=80.7),
    'topdown_heatmap_moganet_b_384x288': dict(
        params=47.4, flops=24.4, ap=77.3, ap50=91.4, ap75=84.0, ar=82.2),
}

TABLES = {'cls': CLS, 'det': DET, 'seg': SEG, 'pose': POSE}


def paper_row(config_name: str) -> Optional[dict]:
    """The paper's row for a config name (without ``.py``), or None."""
    for table in TABLES.values():
        if config_name in table:
            return table[config_name]
    return None
