#!/usr/bin/env bash
# Makes the analysis pictures of docs/analysis.md (docs/analysis/*.png) on a CPU, with
# nothing downloaded and no released ImageNet weights: the built-in
# synthetic ImageNet-layout data (8 classes of coloured shapes), MogaNet-XT
# and mmpretrain's ResNet-18 trained on it for 150 iterations each with
# tools/train.py, then the three analysis tools.
#   bash docs/analysis/make_pictures.sh     # WORK=work_dirs/analysis_demo
# Rerunning skips the trainings that have a checkpoint and resumes the
# interaction run. On a busy 2-core machine, OMP_NUM_THREADS=1 was faster.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
PY="${PYTHON:-python}"
WORK="${WORK:-work_dirs/analysis_demo}"
CFG=docs/analysis/configs
OUT=docs/analysis
MOGA="$WORK/moganet_xt_synthetic/iter_150.pth"
RES="$WORK/resnet18_synthetic/iter_150.pth"

# Training: 40 images per class at 80 px. Validation: 4 per class at 160 px
# (the test pipeline resizes to 72 and crops 64). Probe: 1 per class.
"$PY" - "$WORK/data" <<'EOF'
import sys
from mogavision.datasets.synthetic import write_imagenet
write_imagenet(sys.argv[1], splits={'train': 40}, num_classes=8,
               image_size=80, seed=0)
write_imagenet(sys.argv[1], splits={'val': 4}, num_classes=8,
               image_size=160, seed=1)
write_imagenet(sys.argv[1], splits={'probe': 1}, num_classes=8,
               image_size=160, seed=2)
EOF

for model in moganet_xt_synthetic resnet18_synthetic; do
  [ -f "$WORK/$model/iter_150.pth" ] || "$PY" tools/train.py \
    "$CFG/$model.py" --work-dir "$WORK/$model" --cfg-options \
    "train_dataloader.dataset.data_root=$WORK/data/" \
    "val_dataloader.dataset.data_root=$WORK/data/" \
    "test_dataloader.dataset.data_root=$WORK/data/"
done

# J(m) of both models on the 8 probe images: 8x8 patches of the 64 px crops,
# 8 pairs x 8 contexts per order (the defaults, 14x14, 50 x 50, want a GPU).
"$PY" tools/analysis/interaction_strength.py "$CFG/moganet_xt_synthetic.py" \
  "$MOGA" --images "$WORK/data/probe" --ann-file "$WORK/data/meta/probe.txt" \
  --grid 8 --pairs 8 --contexts 8 --batch-size 256 \
  --compare "$CFG/resnet18_synthetic.py" --compare-checkpoints "$RES" \
  --names MogaNet-XT ResNet-18 --out-dir "$WORK/interaction"
cp "$WORK/interaction/interaction.png" "$WORK/interaction/interaction.csv" \
  "$OUT/"

# Grad-CAM of the top-1 class at 160 px (stage 4: 5x5) on two images.
for k in 0 5; do
  image="$WORK/data/val/n0000000$k/val_${k}_0.JPEG"
  for model in moganet_xt resnet18; do
    "$PY" tools/analysis/vis_cam.py "$image" "$CFG/${model}_synthetic.py" \
      "$WORK/${model}_synthetic/iter_150.pth" --method gradcam \
      --out-file "$OUT/cam_${model}_$k.png" --cfg-options \
      test_dataloader.dataset.pipeline.1.scale=160 \
      test_dataloader.dataset.pipeline.2.crop_size=160
  done
done

# ERF of stage 4 over 16 validation images resized to 224x224.
for model in moganet_xt resnet18; do
  "$PY" tools/analysis/erf.py "$CFG/${model}_synthetic.py" \
    "$WORK/${model}_synthetic/iter_150.pth" --images "$WORK/data/val" \
    --num-images 16 --stage 4 --shape 224 224 --out-file "$WORK/erf/$model.png"
  cp "$WORK/erf/$model.png" "$OUT/erf_$model.png"
  cp "$WORK/erf/$model.csv" "$OUT/erf_$model.csv"
done
