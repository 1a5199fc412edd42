#!/usr/bin/env bash
# Installs what is missing, builds with the tests, and runs every test not labelled `slow`.
# CUDA tests report themselves skipped where no GPU is present.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
cd build
ctest --output-on-failure -LE slow -j 2
