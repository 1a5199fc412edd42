#!/usr/bin/env bash
# The main job: installs what is missing, builds, trains ProMoE-Tiny on Fashion-MNIST on the CPU
# and writes runs/fashion/samples.png (one row per class) beside the checkpoint and the log.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
./build/apps/promoe train --preset ProMoE-Tiny --steps "${STEPS:-1500}" --batch 64 --lr 1e-3 --warmup 100 \
  --ema-decay 0.999 --out runs/fashion --threads "${THREADS:-2}" "$@"
