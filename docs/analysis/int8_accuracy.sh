#!/usr/bin/env bash
# What INT8 costs a segmentor and a pose model that learned something
# (docs/int8.md, Accuracy), on a CPU with nothing downloaded: the built-in
# synthetic ADE20K-layout data (8 classes) and COCO-keypoints data, UperNet
# and top-down heatmap pose with MogaNet-XT trained on them by
# tools/train.py, exported by export_onnx.py --deploy and quantized by
# quantize.py, which evaluates the fp32 and INT8 exports on the held-out
# split and prints both metrics.
#   bash docs/analysis/int8_accuracy.sh [seg|pose ...]  # default: both
# Everything goes to work_dirs/int8_accuracy, where the configs' data roots,
# annotation and detection files point. Rerunning skips the trainings that
# have a checkpoint.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
PY="${PYTHON:-python}"
WORK=work_dirs/int8_accuracy
CFG=docs/analysis/configs

"$PY" - "$WORK" <<'PYEOF'
import os.path as osp, sys
from mogavision.datasets.synthetic import write_ade20k, write_coco_keypoints
work = sys.argv[1]
if not osp.isdir(osp.join(work, 'ade')):
    write_ade20k(osp.join(work, 'ade'),
                 splits={'training': 240, 'validation': 60},
                 image_size=(160, 128), num_classes=8, seed=0)
if not osp.isdir(osp.join(work, 'coco')):
    write_coco_keypoints(osp.join(work, 'coco'),
                         splits={'train2017': 200, 'val2017': 60},
                         image_size=(192, 256), max_people=2, seed=0)
PYEOF

run() {  # run NAME: train, export, quantize (with its evaluation)
  local name=$1
  # the runner names its last checkpoint there (the configs save only the
  # final one)
  [ -f "$WORK/$name/last_checkpoint" ] || "$PY" tools/train.py \
    "$CFG/$name.py" --work-dir "$WORK/$name"
  "$PY" tools/deployment/export_onnx.py "$CFG/$name.py" \
    "$(cat "$WORK/$name/last_checkpoint")" --deploy --out-dir "$WORK/$name/fp32"
  rm -rf "$WORK/$name/int8"
  "$PY" tools/deployment/quantize.py "$CFG/$name.py" \
    "$WORK/$name/fp32/end2end.onnx" --out-dir "$WORK/$name/int8" \
    --work-dir "$WORK/$name/quantize"
}

for task in ${@:-seg pose}; do
  case $task in
    seg) run upernet_moganet_xt_synthetic ;;
    pose) run topdown_heatmap_moganet_xt_synthetic ;;
    *) echo "unknown task $task: seg or pose" >&2; exit 2 ;;
  esac
done
