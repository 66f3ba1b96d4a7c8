"""Every size of a config family shares its reference case's test pipeline,
test settings and heads: the configs differ only where the release's configs
differ (backbone arch, drop path, pretrained weights, the channels fed to the
neck/heads, the lr). So the 1.x parity cases of test_legacy_parity.py
(RetinaNet-XT, Semantic FPN-XT, pose XT 256x192) cover all their sizes."""
import copy
import os.path as osp
import re
from functools import lru_cache

import pytest
from conftest import REPO_ROOT
from mmengine.config import Config


#: What the release's configs of one family differ in.
SIZE_SETTINGS = (
    r'model\.backbone\.(arch|drop_path_rate|init_cfg\.checkpoint)',
    r'model\.(neck|decode_head|auxiliary_head|head)\.in_channels(\.\d+)?',
    r'optim_wrapper\.optimizer\.lr',
)
#: Layer-wise lr decay of the B/L GIoU cascades (also an lr setting).
LAYER_DECAY = (r'optim_wrapper\.(constructor|paramwise_cfg(\..*)?)', )

#: family reference -> the other sizes (and the extra settings they vary)
FAMILIES = {
    'det/retinanet_moganet_xt': ['det/retinanet_moganet_' + s
                                 for s in ('t', 's', 'b', 'l')],
    'det/mask_rcnn_moganet_xt': ['det/mask_rcnn_moganet_' + s
                                 for s in ('t', 's', 'b', 'l')],
    'det/mask_rcnn_moganet_t_ms_3x': ['det/mask_rcnn_moganet_' + s + '_ms_3x'
                                      for s in ('s', 'b', 'l')],
    'det/cascade_mask_rcnn_moganet_s_giou_4conv1f_ms_3x': [
        'det/cascade_mask_rcnn_moganet_' + s + '_giou_4conv1f_ms_3x'
        for s in ('b', 'l')],
    'seg/semantic_fpn_moganet_xt': ['seg/semantic_fpn_moganet_' + s
                                    for s in ('t', 's', 'b', 'l')],
    'seg/upernet_moganet_xt': ['seg/upernet_moganet_' + s
                               for s in ('t', 's', 'b', 'l', 'xl')],
    'pose/topdown_heatmap_moganet_xt_256x192': [
        f'pose/topdown_heatmap_moganet_{s}_256x192' for s in ('t', 's', 'b')],
    'pose/topdown_heatmap_moganet_xt_384x288': [
        f'pose/topdown_heatmap_moganet_{s}_384x288' for s in ('t', 's', 'b')],
}
CASES = [(ref, other) for ref, others in FAMILIES.items() for other in others]


@lru_cache(maxsize=None)
def load(name: str) -> dict:
    """The config as a dict (cached: references serve several cases; copy
    before changing it)."""
    return Config.fromfile(osp.join(REPO_ROOT, 'configs', name + '.py')
                           ).to_dict()


def flatten(node, prefix=''):
    """``{'a.b.0.c': value}`` for every leaf of a nested config."""
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, (list, tuple)):
        items = enumerate(node)
    else:
        return {prefix: node}
    flat = {}
    for key, value in items:
        flat.update(flatten(value, f'{prefix}.{key}' if prefix else str(key)))
    return flat or {prefix: node}


def differences(a: dict, b: dict):
    flat_a, flat_b = flatten(a), flatten(b)
    return sorted(k for k in set(flat_a) | set(flat_b)
                  if flat_a.get(k, '<absent>') != flat_b.get(k, '<absent>'))


def allowed(path: str, patterns) -> bool:
    return any(re.fullmatch(p, path) for p in patterns)


@pytest.mark.parametrize('reference,other', CASES,
                         ids=[o.split('/')[1] for _, o in CASES])
def test_sizes_differ_from_reference_only_in_size_settings(reference, other):
    patterns = SIZE_SETTINGS + (LAYER_DECAY if 'giou' in other else ())
    unexpected = [p for p in differences(load(reference), load(other))
                  if not allowed(p, patterns)]
    assert not unexpected, (
        f'{other} differs from {reference} beyond the size settings: '
        f'{unexpected[:10]}')


def test_the_check_sees_a_test_setting_change():
    ref = load('det/retinanet_moganet_xt')
    changed = copy.deepcopy(load('det/retinanet_moganet_t'))
    changed['model']['test_cfg']['score_thr'] = 0.3
    changed['test_dataloader']['dataset']['pipeline'][1]['scale'] = (
        1000, 600)
    found = [p for p in differences(ref, changed)
             if not allowed(p, SIZE_SETTINGS)]
    assert found == ['model.test_cfg.score_thr',
                     'test_dataloader.dataset.pipeline.1.scale.0',
                     'test_dataloader.dataset.pipeline.1.scale.1']
