#!/usr/bin/env bash
# What the lent GPU machine needs beside the checkout, in two folders .gitignore names, for the device tool's
# `carry`: .whl/ (the wheel of the dependency its python3 lacks, platformdirs) and .gpu_data/ (train/T91, as
# much of train/BSDS400 as the 64 MiB the tool sends allows, benchmark/Set5), then the check to run
# there (README, GPUs). Usage: scripts/gpu_bundle.sh [SHARED_DATASETS]   (default ../shared/datasets)
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${1:-../shared/datasets}
limit=$((64 * 1024 * 1024 - 2 * 1024 * 1024))  # the tool's limit, less room for files made meanwhile
rm -rf .whl .gpu_data
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux2014_x86_64 -d .whl "$(grep -o 'platformdirs==[^"]*' pyproject.toml)"
mkdir -p .gpu_data/train/BSDS400 .gpu_data/benchmark
cp -r "$shared/train/T91" .gpu_data/train/
cp -r "$shared/benchmark/Set5" .gpu_data/benchmark/
size() {  # bytes the device tool sends: tracked and untracked files git does not ignore, and the carried folders
  { git ls-files -z --cached --others --exclude-standard | du -cb --files0-from=- | tail -1 | cut -f1
    du -sb .whl .gpu_data | cut -f1; } | awk '{ s += $1 } END { print s }'
}
total=$(size) added=0
for f in "$shared"/train/BSDS400/*; do
  bytes=$(stat -c %s "$f")
  [ $((total + bytes)) -le "$limit" ] || break
  cp "$f" .gpu_data/train/BSDS400/ && total=$((total + bytes)) added=$((added + 1))
done
echo "carry .whl and .gpu_data: $(ls .gpu_data/train/T91 | wc -l) T91 and $added BSDS400 images, $((total / 1048576)) MiB in all"
