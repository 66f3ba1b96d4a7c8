# Example: MogaNet-S in an existing mmseg model that is not in the suite.
# mmseg's DeepLabV3+ (R50-D8, ADE20K, 80k) with the backbone swapped; only
# the backbone and the channel counts the heads read from it change.
_base_ = 'mmseg::deeplabv3plus/deeplabv3plus_r50-d8_4xb4-80k_ade20k-512x512.py'

model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mogavision.MogaNet',
        arch='small',
        drop_path_rate=0.1,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained',
                      checkpoint='mogavision://moganet_small')),
    # ASPP on the stride-32 stage, low-level features from the stride-4 one.
    decode_head=dict(in_channels=512, c1_in_channels=64),
    auxiliary_head=dict(in_channels=320))
