#!/usr/bin/env bash
# Distributed testing with PyTorch DDP under mmengine, launched by torchrun.
#   bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [options of tools/test.py]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR (and PORT) on every node.
if [ $# -lt 3 ]; then
  echo "usage: bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [options of tools/test.py]" >&2
  exit 2
fi
exec bash "$(dirname "$0")/dist_run.sh" test.py "$3" "$1" "$2" "${@:4}"
