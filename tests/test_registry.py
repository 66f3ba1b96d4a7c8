"""MogaNet builds from every toolbox's registry, by plain and scoped name."""
import pytest
from mmengine.registry import DefaultScope, init_default_scope

from mogavision.models import MogaNet

ARCH = dict(embed_dims=[8, 16, 24, 32], depths=[1, 1, 1, 1],
            ffn_ratios=[4, 4, 4, 4])


@pytest.mark.parametrize('scope', ['mmpretrain', 'mmdet', 'mmseg', 'mmpose'])
@pytest.mark.parametrize('type_name', ['MogaNet', 'mogavision.MogaNet'])
def test_build_from_toolbox_registry(scope, type_name):
    registry = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
    with DefaultScope.overwrite_default_scope(scope):
        model = registry.build(dict(type=type_name, arch=ARCH,
                                    out_indices=(1, 3)))
    assert isinstance(model, MogaNet)
    assert model.out_channels == (16, 32)


def test_scoped_name_from_a_fresh_process(run_tool):
    """``mogavision.MogaNet`` resolves through the registry's ``locations``
    without any mogavision import in the user's code."""
    code = ('from mmdet.registry import MODELS; '
            'from mmengine.registry import init_default_scope; '
            "init_default_scope('mmdet'); "
            "m = MODELS.build(dict(type='mogavision.MogaNet', arch='xt')); "
            'print(type(m).__module__)')
    out = run_tool(['python', '-c', code])
    assert 'mogavision.models.backbones.moganet' in out


def test_unknown_argument_is_an_error():
    from mmdet.registry import MODELS
    init_default_scope('mmdet')
    with pytest.raises(TypeError, match='out_indice'):
        MODELS.build(dict(type='mogavision.MogaNet', arch=ARCH,
                          out_indice=(3, )))
