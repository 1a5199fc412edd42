#!/usr/bin/env bash
# Proves that scripts/check_layers.sh rejects an upward include: on a crafted two-layer tree it
# passes while `high/` includes `low/`, and fails, naming the file and line, once `low/` includes
# `high/`.
set -euo pipefail
lint="$(cd "$(dirname "$0")/../.." && pwd)/scripts/check_layers.sh"
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree/low" "$tree/high"
printf 'low:\nhigh: low\n' > "$tree/layers.txt"
printf '#pragma once\n#include <vector>\n' > "$tree/low/base.h"
printf '#include "high/top.h"\n#include "low/base.h"\n' > "$tree/high/top.cpp"
printf '#pragma once\n#include "low/base.h"\n' > "$tree/high/top.h"
bash "$lint" "$tree" > /dev/null || { echo "check_layers rejected a tree whose includes all point down"; exit 1; }
printf '#pragma once\n#include <vector>\n  #  include "high/top.h"\n' > "$tree/low/base.h"
if out=$(bash "$lint" "$tree" 2>&1); then
  echo "check_layers accepted low/base.h including high/top.h"
  exit 1
fi
grep -q 'low/base.h:3: low/ may not include high/' <<< "$out" || { echo "unexpected message: $out"; exit 1; }
echo "check_layers: an upward include is rejected"
