# Example of a user config: MogaNet-XT swapped into mmpose's SimCC model
# (head without deconv layers; not part of the reproduced suite). Only the
# backbone and the head's input channels change; SimCC's codec, loss and
# schedule stay mmpose's.
_base_ = ['mmpose::body_2d_keypoint/simcc/coco/'
          'simcc_mobilenetv2_wo-deconv-8xb64-210e_coco-256x192.py']

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
