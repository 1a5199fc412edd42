#!/usr/bin/env bash
# Checks every `#include "dir/file"` of every source against the layer table (layers.txt): a
# source in folder L may include files of L itself and of the layers the table lists for L, and of
# no other folder of the tree (tests/ may include anything). Prints each upward or sideways include
# and fails if there is one.
#   bash scripts/check_layers.sh [ROOT]   ROOT holds layers.txt and the layer folders (default: the tree)
set -euo pipefail
root=${1:-"$(dirname "$0")/.."}
cd "$root"
[ -f layers.txt ] || { echo "check_layers: no layers.txt in $root" >&2; exit 2; }
declare -A allowed
while IFS= read -r line; do
  line=${line%%#*}
  [[ $line =~ ^[[:space:]]*([a-z_]+):(.*)$ ]] || continue
  allowed[${BASH_REMATCH[1]}]=" ${BASH_REMATCH[1]} ${BASH_REMATCH[2]} "
done < layers.txt
bad=0 checked=0
for layer in "${!allowed[@]}"; do
  [ -d "$layer" ] || continue
  while IFS= read -r -d '' file; do
    checked=$((checked + 1))
    while IFS= read -r hit; do
      lineno=${hit%%:*}
      target=$(sed -E 's/^[^"]*"([^"/]+)\/.*$/\1/' <<< "${hit#*:}")
      [ -n "${allowed[$target]:-}" ] || continue  # not a layer folder (a file beside the source)
      if [[ ${allowed[$layer]} != *" $target "* ]]; then
        echo "check_layers: $file:$lineno: $layer/ may not include $target/ (layers.txt: $layer:${allowed[$layer]})" >&2
        bad=1
      fi
    done < <(grep -n -E '^[[:space:]]*#[[:space:]]*include[[:space:]]+"[^"/]+/' "$file" || true)
  done < <(find "$layer" -type f \( -name '*.cpp' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' \) -print0)
done
[ $bad -eq 0 ] || exit 1
echo "check_layers: $checked sources, every include points down"
