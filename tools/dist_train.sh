#!/usr/bin/env bash
# Distributed training with PyTorch DDP under mmengine, launched by torchrun.
#   bash tools/dist_train.sh CONFIG GPUS [options of tools/train.py]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR (and PORT) on every node.
# Without CUDA the processes run on CPU with the gloo backend.
if [ $# -lt 2 ]; then
  echo "usage: bash tools/dist_train.sh CONFIG GPUS [options of tools/train.py]" >&2
  exit 2
fi
exec bash "$(dirname "$0")/dist_run.sh" train.py "$2" "$1" "${@:3}"
