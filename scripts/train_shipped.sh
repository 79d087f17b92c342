#!/usr/bin/env bash
# The recipes of the weights shipped in weights/: each run is resumable (run folders in runs/),
# so this script can be stopped and started again; a finished run is skipped.
# Usage: scripts/train_shipped.sh [RUN_NAME ...]   (default: all, in order)
set -euo pipefail
cd "$(dirname "$0")/.."
SISR=${SISR:-.venv/bin/sisr}
THREADS=${SISR_THREADS:-$(nproc)}  # fewer when the machine is busy with other work
DATA=${SISR_TRAIN_DATA:-../shared/datasets/train}
COMMON=(--data "$DATA/T91" --data "$DATA/BSDS400" --val-holdout 10 --val-every 1000 -q)

train() {  # train RUN_NAME ARGS...: start or resume runs/RUN_NAME
  local run=runs/$1; shift
  if [ -f "$run/final.safetensors" ]; then echo "$run: done"; return; fi
  if [ -f "$run/checkpoint.pt" ]; then "$SISR" train --resume "$run" --threads "$THREADS" -q
  else "$SISR" train "$@" "${COMMON[@]}" --threads "$THREADS" --out "$run"; fi
}

recipe() {
  case $1 in
    wdsr-a_x2) train "$1" --model wdsr-a --scale 2 --steps 40000 --lr 1e-3 --batch 16 --patch 48 ;;
    fsrcnn_x2) train "$1" --model fsrcnn --scale 2 --steps 20000 --lr 1e-3 --batch 16 --patch 40 ;;
    fsrcnn_x3|fsrcnn_x4)
      train "$1" --model fsrcnn --scale "${1#fsrcnn_x}" --steps 10000 --lr 5e-4 --batch 16 --patch 32 \
        --init runs/fsrcnn_x2/final.safetensors ;;
    *) echo "unknown run $1" >&2; return 2 ;;
  esac
}

runs=("$@")
[ ${#runs[@]} -gt 0 ] || runs=(wdsr-a_x2)
for r in "${runs[@]}"; do recipe "$r"; done
