#!/usr/bin/env bash
# Configures and builds promoe in ./build (Release). Extra arguments go to cmake's configure step.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
jobs=$(nproc 2>/dev/null || echo 2)
mkdir -p build
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" > build/configure.log || { cat build/configure.log; exit 1; }
cmake --build build -j "$jobs"
