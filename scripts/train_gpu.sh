#!/usr/bin/env bash
# The shipped recipes on one GPU within a wall-time budget: the default network's clean weights (wdsr-a
# x2, x3, x4) and the photo weights (wdsr-a x2, x3, x4; fsrcnn x2, x4), each run continuing from the
# shipped file it would replace (--init weights/...), all runs at once on the one GPU, each run's steps
# fitted to the time by `sisr train --minutes` so its learning-rate schedule ends inside the budget.
#
# Usage: scripts/train_gpu.sh OUT_DIR [MINUTES]      (MINUTES: wall time of the whole script, default 9)
# Writes OUT_DIR/RUN/ for each run (final.safetensors with its recipe in the metadata, config.json,
# log.csv, checkpoint.pt), OUT_DIR/train_gpu.log (every run's output and a summary) and OUT_DIR/runs.tar
# (the run folders without checkpoints: unpack it and give the folders to scripts/publish_weights.py).
# Environment:
#   SISR_PYTHON       python with torch (default .venv/bin/python, else python3); the repository is put on PYTHONPATH
#   SISR_TRAIN_DATA   folder holding T91/ and BSDS400/ (default shared/datasets/train here, else ../shared/datasets/train)
#   SISR_DEVICE       cuda (default), mps or cpu
#   SISR_GPU_BATCH    patches per step (default 64; the CPU recipes used 16)
#   SISR_GPU_JOBS     runs at once (default: all eight)
#   SISR_GPU_STEPS    a fixed number of steps per run instead of the time budget (the CPU test uses 2)
#   SISR_GPU_PATCH    one LR patch size for every run instead of the recipes' (the CPU test's tiny images)
#   SISR_GPU_HOLDOUT  training images held out for validation (default 10, as the shipped runs)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: $0 OUT_DIR [MINUTES]}
minutes=${2:-9}
py=${SISR_PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
data=${SISR_TRAIN_DATA:-$([ -d shared/datasets/train ] && echo shared/datasets/train || echo ../shared/datasets/train)}
device=${SISR_DEVICE:-cuda}
batch=${SISR_GPU_BATCH:-64}
cores=$(nproc)
runs=(wdsr-a_x2 wdsr-a_x3 wdsr-a_x4 wdsr-a_photo_x2 wdsr-a_photo_x3 wdsr-a_photo_x4 fsrcnn_photo_x2 fsrcnn_photo_x4)
jobs=${SISR_GPU_JOBS:-${#runs[@]}}
# Start-up (torch, the data, timing a step) and the end (validation, writing) take about 1.5 minutes of
# the budget when eight runs start together; the runs train for the rest.
length=(--minutes "$(awk -v m="$minutes" 'BEGIN { print (m > 2 ? m - 1.5 : m / 2) }')")
[ -n "${SISR_GPU_STEPS:-}" ] && length=(--steps "$SISR_GPU_STEPS")
for d in "$data/T91" "$data/BSDS400"; do
  [ -d "$d" ] || { echo "error: no training images in $d (set SISR_TRAIN_DATA)" >&2; exit 2; }
done
"$py" -c "import sisr_core.cli, sisr_core.training.trainer, platformdirs" \
  || { echo "error: $py cannot import SISR Studio's dependencies (carry the platformdirs wheel: scripts/gpu_bundle.sh)" >&2; exit 2; }
mkdir -p "$out"
log=$out/train_gpu.log
# The five photo runs degrade every patch (blur, noise, JPEG) in their DataLoader workers: they share the
# cores but the three clean runs' one worker each (the runs' own processes mostly wait for the GPU).
workers=$(( (cores - 3) / 5 > 1 ? (cores - 3) / 5 : 1 ))
{ echo "$(date -u +%FT%TZ) train_gpu.sh: ${#runs[@]} runs, $jobs at once, ${length[*]}, batch $batch, device $device, $cores cores"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
} | tee -a "$log"

run() {  # run RUN_NAME: one recipe, its output prefixed with its name in the log
  local name=$1 model=${1%%_*} scale=${1##*_x} args
  case $1 in
    wdsr-a_x*)       args=(--lr 5e-4 --patch 48 --workers 1) ;;
    wdsr-a_photo_*)  args=(--lr 5e-4 --patch 48 --degradation photo --workers "$workers") ;;
    fsrcnn_photo_*)  args=(--lr 5e-4 --patch 40 --degradation photo --workers "$workers") ;;
  esac
  [ -n "${SISR_GPU_PATCH:-}" ] && args+=(--patch "$SISR_GPU_PATCH")
  rm -rf "${out:?}/$name"
  "$py" -m sisr_core.cli train --model "$model" --scale "$scale" --init "weights/${name}.safetensors" \
    "${args[@]}" "${length[@]}" --batch "$batch" --device "$device" --threads 1 \
    --data "$data/T91" --data "$data/BSDS400" --val-holdout "${SISR_GPU_HOLDOUT:-10}" --val-every 500 \
    -q --out "$out/$name" 2>&1 | sed -u "s/^/[$name] /" >>"$log"
  return "${PIPESTATUS[0]}"
}

started=$SECONDS failed=0 pids=()
for name in "${runs[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do sleep 1; done
  run "$name" & pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || failed=$((failed + 1)); done

"$py" - "$out" <<'EOF' | tee -a "$log"
import sys
from pathlib import Path
from sisr_core.weights import read_metadata
for final in sorted(Path(sys.argv[1]).glob("*/final.safetensors")):
    t = read_metadata(final)["training"]
    print(f"{final.parent.name}: {t['steps']} steps of {t['batch']} in {t['seconds']:.0f} s, validation {t['validation_psnr']} dB")
EOF
(cd "$out" && tar -cf runs.tar --exclude=checkpoint.pt --exclude=best.safetensors $(ls -d "${runs[@]}" 2>/dev/null))
echo "$(date -u +%FT%TZ) done in $((SECONDS - started)) s, $failed failed; weights in $out, runs.tar to publish" | tee -a "$log"
[ "$failed" -eq 0 ]
