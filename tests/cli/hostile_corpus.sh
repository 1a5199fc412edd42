#!/usr/bin/env bash
# Every crafted file of tests/cli/hostile against every command that reads files: train --data,
# routing --data, sample --checkpoint, routing --checkpoint, check, import, export, sample --noise. Each run must be refused with
# a one-line "promoe: error: ..." on stderr and a non-zero exit, no signal, no hang (60 s), under an
# address-space limit (ulimit -v) far below what the headers claim, so memory follows the bytes the
# files hold. Usage: hostile_corpus.sh PROMOE HOSTILE_DIR CHECKPOINT WORKDIR [VMEM_KB]
set -u
promoe=$1 corpus=$2 ckpt=$3 work=$4 vmem=${5:-1500000}
rm -rf "$work"
mkdir -p "$work"
failed=0 runs=0
check() {  # check NAME ARGS...: one refused run
  local name=$1
  shift
  runs=$((runs + 1))
  local err rc
  err=$( (ulimit -v "$vmem"; exec timeout 60 "$promoe" "$@") 2>&1 > /dev/null)
  rc=$?
  local why=""
  if [ $rc -eq 0 ]; then why="exit 0"; fi
  if [ $rc -eq 124 ]; then why="hang (timeout)"; fi
  if [ $rc -ge 128 ]; then why="signal $((rc - 128))"; fi
  if [ -z "$why" ] && [ "$(printf '%s\n' "$err" | wc -l)" -ne 1 ]; then why="not one line"; fi
  if [ -z "$why" ] && [[ "$err" != "promoe: error: "* ]]; then why="not a promoe error"; fi
  if [ -n "$why" ]; then
    failed=$((failed + 1))
    printf 'FAIL (%s): %s: %s\n  %s\n' "$why" "$name" "$*" "$(printf '%s' "$err" | head -c 400)"
  fi
}
for f in "$corpus"/*; do
  n=$(basename "$f")
  check "$n" train --data "$f" --steps 1 --batch 2 --out "$work/train" --grid-per-class 0 --threads 1 --quiet
  check "$n" routing --checkpoint "$ckpt" --data "$f" --out "$work/routing" --threads 1
  check "$n" sample --checkpoint "$f" --out "$work/s.png" --threads 1
  check "$n" routing --checkpoint "$f" --out "$work/routing" --threads 1
  check "$n" check "$f" --threads 1
  check "$n" import "$f" --preset ProMoE-Tiny --out "$work/imported.safetensors"
  check "$n" export "$f" --out "$work/exported.safetensors"
  check "$n" sample --checkpoint "$ckpt" --noise "$f" --out "$work/s.safetensors" --threads 1
done
echo "$runs runs on $(ls "$corpus" | wc -l) crafted files, $failed not refused cleanly"
[ $failed -eq 0 ]
