"""The family registry: what is supported, and clear errors otherwise."""
import pytest
from mmengine.config import Config

from mogavision.deploy import family_for, get_family, supported_families
from deploy_helpers import REPO_ROOT, tiny_config

SIMCC = f'{REPO_ROOT}/configs/pose/examples/' \
    'simcc_moganet_xt_wo-deconv_coco-256x192.py'


def test_every_family_is_listed():
    listing = supported_families()
    for name in ('cls', 'retinanet', 'mask_rcnn', 'cascade_mask_rcnn',
                 'encoder_decoder', 'topdown_heatmap'):
        assert f'  {name}: ' in listing


@pytest.mark.parametrize('name, family', [
    ('cls', 'cls'), ('semantic_fpn', 'encoder_decoder'),
    ('upernet', 'encoder_decoder'), ('pose', 'topdown_heatmap')])
def test_configs_find_their_family(name, family):
    assert family_for(tiny_config(name)).name == family


def test_unsupported_config_names_the_supported_families():
    cfg = Config.fromfile(SIMCC)
    with pytest.raises(ValueError) as error:
        family_for(cfg)
    message = str(error.value)
    assert "type='TopdownPoseEstimator', head='SimCCHead'" in message
    assert 'topdown_heatmap: mmpose TopdownPoseEstimator + HeatmapHead' in \
        message and 'encoder_decoder' in message and 'mask_rcnn' in message


def test_unknown_family_and_option():
    with pytest.raises(ValueError, match="Unknown export family 'yolo'"):
        get_family('yolo')
    with pytest.raises(ValueError, match=r"Unknown option\(s\) \['argmax'\] "
                       r"for export family 'encoder_decoder'; it takes "
                       r"\['logits'\]"):
        family_for(tiny_config('semantic_fpn'), argmax=False)
