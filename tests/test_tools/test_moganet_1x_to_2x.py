"""tools/model_converters/moganet_1x_to_2x.py and publish_model.py: a 1.x
checkpoint becomes a clean 2.x file; a trained checkpoint loses its training
state and is named by its sha256; both load with plain torch."""
import glob
import hashlib
import os.path as osp
import subprocess
import sys

import torch

from mogavision.checkpoint import make_portable

CONVERTER = 'tools/model_converters/moganet_1x_to_2x.py'
PUBLISHER = 'tools/model_converters/publish_model.py'
POSE = 'configs/pose/topdown_heatmap_moganet_xt_256x192.py'
PLAIN_LOAD = ('import sys, torch\n'
              'assert "mogavision" not in sys.modules\n'
              'c = torch.load({!r}, map_location="cpu")\n'
              'print("KEYS", sorted(c), sorted(c["meta"]))\n')


def test_1x_pose_checkpoint_converts_to_2x(legacy_checkpoint, tmp_path,
                                           run_tool):
    out = str(tmp_path / 'pose_2x.pth')
    log = run_tool(['python', CONVERTER, legacy_checkpoint('pose_xt_256'),
                    out, '--config', POSE])
    assert 'OpenMMLab 1.x (mmpose 0.29.0) checkpoint upgraded' in log
    assert '723 of 723 checkpoint tensors loaded; 0 model keys missing' in log
    converted = torch.load(out, map_location='cpu')
    assert sorted(converted) == ['meta', 'state_dict']
    assert converted['meta']['converted_from'] == 'mmpose 0.29.0'
    assert 'head.final_layer.weight' in converted['state_dict']
    assert not any(k.startswith('keypoint_head.')
                   for k in converted['state_dict'])
    printed = run_tool(['python', '-c', PLAIN_LOAD.format(out)])
    assert "KEYS ['meta', 'state_dict']" in printed


def test_converter_refuses_a_2x_file_and_writes_nothing(tmp_path):
    source = tmp_path / 'new.pth'
    torch.save(dict(meta=dict(dataset_meta=dict(classes=('a', ))),
                    state_dict={}), source)
    out = tmp_path / 'out.pth'
    proc = subprocess.run([sys.executable, CONVERTER, str(source), str(out)],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert 'is not an OpenMMLab 1.x checkpoint' in proc.stderr
    assert not out.exists() and not glob.glob(str(tmp_path / '.out*'))


def test_publish_drops_training_state_and_names_by_sha256(tmp_path,
                                                          run_tool):
    from mmengine.logging import HistoryBuffer
    trained = make_portable(dict(
        meta=dict(dataset_meta=dict(classes=('cat', 'dog')), epoch=12,
                  seed=0, cfg='model = dict()', hook_msgs={}),
        state_dict={'head.fc.weight': torch.ones(2, 4)},
        optimizer=dict(state={}, param_groups=[]),
        param_schedulers=[dict(last_epoch=3)],
        message_hub=dict(
            log_scalars={'train/loss': HistoryBuffer([1.], [1])},
            runtime_info={}, resumed_keys={})))
    source = str(tmp_path / 'epoch_12.pth')
    torch.save(trained, source)
    log = run_tool(['python', PUBLISHER, source,
                    str(tmp_path / 'model.pth')])
    published = glob.glob(str(tmp_path / 'model-*.pth'))
    assert len(published) == 1 and not osp.exists(tmp_path / 'model.pth')
    with open(published[0], 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    assert published[0].endswith(f'model-{digest[:8]}.pth')
    assert 'Dropped message_hub, optimizer, param_schedulers' in log
    printed = run_tool(['python', '-c', PLAIN_LOAD.format(published[0])])
    assert "KEYS ['meta', 'state_dict'] ['dataset_meta', 'epoch']" in printed
