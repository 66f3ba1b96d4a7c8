"""The model zoo as data: model-index.yml + configs/<task>/metafile.yml are
complete, well formed, and what mogavision:// names resolve through."""
import glob
import os
import os.path as osp
import urllib.error

import pytest
import torch

import mogavision.checkpoint as ckpt_module
from mogavision import fileio, model_zoo
from mogavision.checkpoint import (ModelZooError, hub_cache_path,
                                   resolve_checkpoint)

REPO_ROOT = model_zoo.REPO_ROOT
#: Configs that are no row of the paper: the built-in demo's.
NOT_ROWS = {'mask_rcnn_moganet_xt_synthetic'}
RELEASE = 'https://github.com/Westlake-AI/MogaNet/releases/download/'


def config_names(task):
    return {osp.splitext(osp.basename(p))[0]
            for p in glob.glob(osp.join(REPO_ROOT, 'configs', task, '*.py'))}


@pytest.mark.parametrize('task', model_zoo.TASK_DIRS)
def test_every_config_has_an_entry_and_every_entry_a_config(task):
    names = {m.name for m in model_zoo.models(task)}
    assert names == config_names(task) - NOT_ROWS
    for m in model_zoo.models(task):
        assert osp.isfile(m.config), m.config
        assert osp.basename(m.config) == m.name + '.py'


def test_model_index_imports_every_task_and_mim_reads_it():
    modelindex = pytest.importorskip('modelindex.load_model_index')
    index = modelindex.load(model_zoo.MODEL_INDEX)
    names = {m.name for m in index.models}
    assert names == set(model_zoo.load_model_index())
    assert len(names) == 8 + 18 + 11 + 8  # cls, det, seg, pose rows
    for model in index.models:
        assert model.config and model.results is not None


def test_the_old_python_tables_are_gone():
    for name in ('CLS', 'DET', 'SEG', 'POSE', 'TABLES'):
        assert not hasattr(model_zoo, name)
    assert not hasattr(ckpt_module, 'RELEASED_WEIGHTS')
    assert not hasattr(ckpt_module, 'RELEASE_URL')


def test_paper_figures_are_the_papers():
    row = model_zoo.paper_row('mask_rcnn_moganet_s')
    assert row == {'params': 45.0, 'flops': 271.6, 'box AP': 46.6,
                   'mask AP': 42.2}
    assert model_zoo.paper_row('upernet_moganet_xl') is None  # no paper row
    assert model_zoo.get_model('topdown_heatmap_moganet_b_384x288').metrics[
        'AP'] == 77.3


def test_released_files_follow_the_release():
    """§6 of the reference: every row but Cascade GIoU-L and UperNet-XL has
    a file, under its task's release tag."""
    tags = dict(cls='moganet-in1k-weights', det='moganet-det-weights',
                seg='moganet-seg-weights', pose='moganet-pose-weights')
    unreleased = {m.name for m in model_zoo.models() if not m.weights}
    assert unreleased == {'cascade_mask_rcnn_moganet_l_giou_4conv1f_ms_3x',
                          'upernet_moganet_xl'}
    for m in model_zoo.models():
        if m.weights:
            assert m.weights.startswith(RELEASE + tags[m.task] + '/')
    assert model_zoo.get_model('mask_rcnn_moganet_t_ms_3x').file_name == \
        'mask_rcnn_moganet_t_fpn_mstrain_480-800_3x_coco.pth'
    assert model_zoo.get_model('upernet_moganet_s').file_name == \
        'upernet_moganet_small_512x512_160k_ade20k.pth'
    assert model_zoo.get_model('topdown_heatmap_moganet_xt_256x192'
                               ).file_name == 'moganet_xt_coco_256x192.pth'


@pytest.fixture
def hub_dir(tmp_path):
    previous = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path))
    yield tmp_path
    torch.hub.set_dir(previous)


@pytest.fixture
def offline(monkeypatch):
    def refuse(url, timeout=None):
        raise urllib.error.URLError('no network in this test')
    monkeypatch.setattr(fileio.urllib.request, 'urlopen', refuse)


@pytest.mark.parametrize(
    'name', [m.name for m in model_zoo.models() if m.weights])
def test_every_released_row_resolves_from_the_cache(name, hub_dir, offline):
    model = model_zoo.get_model(name)
    cached = hub_cache_path(model.weights)
    assert cached.startswith(str(hub_dir))
    with pytest.raises(RuntimeError) as info:  # offline, not cached yet
        resolve_checkpoint(f'mogavision://{name}')
    assert cached in str(info.value) and model.file_name in str(info.value)
    os.makedirs(osp.dirname(cached), exist_ok=True)
    torch.save({'state_dict': {}}, cached)
    path, use_ema = resolve_checkpoint(f'mogavision://{name}')
    assert path == cached
    assert use_ema == (model.weights_key == 'state_dict_ema')


def test_imagenet_aliases_resolve_to_the_classifier_rows():
    assert model_zoo.get_model('moganet_small').name == 'moganet_s_224'
    assert model_zoo.get_model('moganet_tiny_256').name == 'moganet_t_256'
    assert model_zoo.get_model('moganet_small').weights_key == \
        'state_dict_ema'
    assert model_zoo.get_model('moganet_xtiny').weights_key == 'state_dict'


def test_unreleased_and_unknown_names_are_clear_errors():
    with pytest.raises(ModelZooError) as info:
        resolve_checkpoint('mogavision://upernet_moganet_xl')
    message = str(info.value)
    assert 'published no checkpoint for upernet_moganet_xl' in message
    assert 'upernet_moganet_l' in message and 'semantic_fpn_moganet_xt' in \
        message
    with pytest.raises(ModelZooError) as info:
        resolve_checkpoint('mogavision://mask_rcnn_moganet_small')
    assert 'did you mean' in str(info.value)
    assert 'mask_rcnn_moganet_s' in str(info.value)


def test_a_failed_download_leaves_nothing_in_the_cache(hub_dir, monkeypatch):
    """A proxy answering with an HTML page is refused, not cached."""
    import io

    class Page(io.BytesIO):
        def __enter__(self):
            return self

        def __exit__(self, *args):
            return False

    monkeypatch.setattr(fileio.urllib.request, 'urlopen',
                        lambda url, timeout=None: Page(b'<!DOCTYPE html><p>'))
    with pytest.raises(ValueError, match='HTML page'):
        resolve_checkpoint('mogavision://retinanet_moganet_xt')
    cached = hub_cache_path(
        model_zoo.get_model('retinanet_moganet_xt').weights)
    assert not osp.exists(cached)
    assert not glob.glob(osp.join(osp.dirname(cached), '.*'))
