#!/usr/bin/env bash
# The recipes of the weights shipped in weights/: each run is resumable (run folders in runs/),
# so this script can be stopped and started again; a finished run is skipped.
# Usage: scripts/train_shipped.sh RUN_NAME[:STEPS] ...   e.g. fsrcnn_x2 fsrcnn_x3:4000 sr_xall
# (pre-upsampling nets: NAME_xall); :STEPS sets the run's total steps, also when resuming it.
set -euo pipefail
cd "$(dirname "$0")/.."
SISR=${SISR:-.venv/bin/sisr}
THREADS=${SISR_THREADS:-$(nproc)}  # fewer when the machine is busy with other work
DATA=${SISR_TRAIN_DATA:-../shared/datasets/train}
COMMON=(--data "$DATA/T91" --data "$DATA/BSDS400" --val-holdout 10 --val-every 1000 -q)

train() {  # train RUN_NAME STEPS ARGS...: start or resume runs/RUN_NAME
  local run=runs/$1 steps=$2; shift 2
  if [ -f "$run/final.safetensors" ]; then echo "$run: done"; return; fi
  if [ -f "$run/checkpoint.pt" ]; then "$SISR" train --resume "$run" --steps "$steps" --threads "$THREADS" -q
  else "$SISR" train "$@" "${COMMON[@]}" --threads "$THREADS" --out "$run"; fi
}

# x2 first; x3 and x4 start from the x2 weights (all but the upsampler carry over).
recipe() {
  local run=${1%:*} want=
  [[ $1 == *:* ]] && want=${1##*:}
  local name=${run%_x*} scale=${run##*_x}
  local init=() lr=${LR:-} steps
  if [ "$scale" != 2 ] && [ "$scale" != all ]; then  # from the x2 run, or the multi-scale one
    init=(--init "runs/${name}_x2/final.safetensors")
    [ -d "runs/${name}_x2" ] || init=(--init "runs/${name}_xall/final.safetensors")
  fi
  case $name in
    fsrcnn)          steps=20000; set -- --lr "${lr:-1e-3}" --patch 40 ;;
    espcn)           steps=20000; set -- --lr "${lr:-1e-3}" --patch 32 ;;
    distilled_rnsr)  steps=20000; set -- --lr "${lr:-5e-4}" --patch 48 --teacher "runs/rnsr_x$scale/final.safetensors" ;;
    wdsr-a|wdsr-b)   steps=40000; set -- --lr "${lr:-1e-3}" --patch 48 ;;
    rnsr|nlrnsr|srresnet|edsr-baseline|fdsrcnn) steps=30000; set -- --lr "${lr:-5e-4}" --patch 48 ;;
    sr|esr|dsr|ddsr) steps=20000; set -- --lr "${lr:-5e-4}" --patch 32 --scales 2 3 4 ;;
    srgan)           steps=10000; set -- --lr "${lr:-1e-4}" --patch 32 --adversarial 0.005 \
                        --init "runs/srresnet_x$scale/final.safetensors" ;;
    *) echo "unknown run $run" >&2; return 2 ;;
  esac
  if [ "$scale" = all ]; then  # fdsrcnn: one network for x2 and x4; pre-upsampling nets: x2 x3 x4
    scale=2
    [ "$name" = fdsrcnn ] && set -- "$@" --scales 2 4 && scale=4
  fi
  [ "$name" = srgan ] && init=()
  [ "$scale" = 2 ] || steps=10000
  steps=${want:-$steps}
  train "$run" "$steps" --model "$name" --scale "$scale" --steps "$steps" --batch 16 "$@" "${init[@]}"
}

runs=("$@")
if [ ${#runs[@]} -eq 0 ]; then
  echo "usage: $0 RUN_NAME ... (e.g. wdsr-a_x2 fsrcnn_x2 fsrcnn_x3 sr_xall)" >&2
  exit 2
fi
for r in "${runs[@]}"; do recipe "$r"; done; exit  # one line: bash has read it all, so editing this file won't disturb a running queue
