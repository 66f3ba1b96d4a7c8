"""tools/analysis: get_flops against a hand count, benchmark runs."""
import re
import subprocess
import sys

CONV_AND_FC_MACS = (
    6 * 28 * 28 * (1 * 5 * 5)  # conv1: 1->6, 5x5, 32x32 -> 28x28
    + 16 * 10 * 10 * (6 * 5 * 5)  # conv2 after 2x2 pooling: 14 -> 10
    + 120 * 1 * 1 * (16 * 5 * 5)  # conv3 after pooling: 5 -> 1
    + 120 * 84 + 84 * 10)  # two linear layers
LENET_PARAMS = (6 * 25 + 6) + (16 * 6 * 25 + 16) + (120 * 16 * 25 + 120) + \
    (120 * 84 + 84) + (84 * 10 + 10)


def test_get_flops_matches_hand_count(run_tool):
    out = run_tool(['tools/analysis/get_flops.py',
                    'tests/data/configs/lenet_cls.py', '--shape', '32', '32'])
    assert f'({CONV_AND_FC_MACS} multiply-adds)' in out
    assert f'({LENET_PARAMS})' in out
    assert 'input shape: 32x32' in out


def test_get_flops_compare_paper_on_a_real_config(run_tool):
    out = run_tool(['tools/analysis/get_flops.py',
                    'configs/cls/moganet_xt_224.py', '--compare-paper'])
    params = float(re.search(r'params: ([\d.]+) M', out).group(1))
    assert abs(params - 2.96) < 0.01
    assert 'paper params: 2.97 M' in out
    assert 'input shape: 224x224' in out


def test_get_flops_runs_the_channel_check_of_the_training_tools(repo_root):
    proc = subprocess.run(
        [sys.executable, 'tools/analysis/get_flops.py',
         'configs/seg/upernet_moganet_xt.py', '--cfg-options',
         'model.backbone.arch=small', 'model.backbone.init_cfg=None'],
        cwd=repo_root, capture_output=True, text=True)
    assert proc.returncode != 0
    assert ('model.decode_head.in_channels=[32, 64, 96, 192] does not match '
            'the MogaNet features ([64, 128, 320, 512]' in proc.stderr)


def test_benchmark_prints_every_mode(run_tool):
    out = run_tool(['tools/analysis/benchmark.py',
                    'tests/data/configs/toy_moganet_cls.py', '--shape', '64',
                    '64', '--iters', '2', '--warmup', '1', '--modes', 'eager',
                    'folded', 'channels_last', 'folded+channels_last'])
    rows = dict(re.findall(r'^(\S+)\s+([\d.]+)\s+[\d.]+x', out, re.M))
    assert set(rows) == {'eager', 'folded', 'channels_last',
                         'folded+channels_last'}
    assert all(float(v) > 0 for v in rows.values())
    diffs = [float(d) for d in
             re.findall(r'x (\d\.\d+e[-+]\d+)  [\d.]+-[\d.]+$', out, re.M)]
    assert len(diffs) == 4 and max(diffs) < 1e-4


def test_benchmark_training_step_with_cp_saves_activation_memory(run_tool):
    out = run_tool(['tools/analysis/benchmark.py',
                    'tests/data/configs/toy_moganet_cls.py', '--train',
                    '--shape', '64', '64', '--batch-size', '4', '--iters', '2',
                    '--warmup', '1', '--modes', 'eager', 'with_cp'])
    act = dict(re.findall(r'^(eager|with_cp)\s+[\d.]+\s+[\d.]+x\s+([\d.]+)',
                          out, re.M))
    assert float(act['with_cp']) < 0.6 * float(act['eager'])


def test_benchmark_whole_detector_training_step(run_tool):
    """Mask R-CNN loss on fixed random boxes and masks: eager, with the
    parallel RoIAlign, and channels_last (compile is too slow for a test).
    Every mode's first loss must be eager's: a channels-last feature map read
    as NCHW by mmcv's RoIAlign would change it."""
    out = run_tool(['tools/analysis/benchmark.py',
                    'configs/det/mask_rcnn_moganet_xt.py', '--part', 'model',
                    '--train', '--shape', '128', '128', '--batch-size', '1',
                    '--iters', '1', '--warmup', '1', '--modes', 'eager',
                    'parallel_roi_align', 'channels_last', '--cfg-options',
                    'model.backbone.init_cfg=None'])
    assert 'training step: model of configs/det/mask_rcnn_moganet_xt.py' in out
    rows = re.findall(r'^(\S+)\s+([\d.]+)\s+[\d.]+x\s+[\d.]+ '
                      r'(\d\.\d+e[-+]\d+)', out, re.M)
    assert [r[0] for r in rows] == ['eager', 'parallel_roi_align',
                                    'channels_last']
    assert all(float(r[1]) > 0 for r in rows)
    assert all(float(r[2]) < 1e-3 for r in rows), out


def test_benchmark_refuses_unknown_modes(repo_root):
    proc = subprocess.run(
        [sys.executable, 'tools/analysis/benchmark.py',
         'tests/data/configs/toy_moganet_cls.py', '--modes', 'eager', 'fast'],
        cwd=repo_root, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "Unknown --modes ['fast']" in proc.stderr


def test_benchmark_runtime_modes(run_tool):
    """ONNX Runtime and OpenVINO rows beside eager, each with its max diff;
    bf16 where the CPU has it, else a row saying why not."""
    out = run_tool(['tools/analysis/benchmark.py',
                    'tests/data/configs/toy_moganet_cls.py', '--shape', '32',
                    '32', '--iters', '1', '--warmup', '1', '--repeats', '1',
                    '--modes', 'eager', 'onnxruntime', 'openvino',
                    'openvino_bf16'])
    rows = dict(re.findall(r'^(\S+)\s+[\d.]+\s+[\d.]+x (\d\.\d+e[-+]\d+)',
                           out, re.M))
    assert {'eager', 'onnxruntime', 'openvino'} <= set(rows)
    assert max(float(rows[m]) for m in ('onnxruntime', 'openvino')) < 1e-5
    assert 'openvino_bf16' in rows or re.search(
        r'^openvino_bf16 +n/a: precision bf16: this CPU has no BF16', out,
        re.M)
