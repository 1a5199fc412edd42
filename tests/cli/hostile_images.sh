#!/usr/bin/env bash
# `promoe encode` on each crafted image of tests/cli/hostile_images (make_hostile_images.py), alone
# in a class folder, under an address-space limit far below what the headers claim: every run
# must exit non-zero without a signal or a hang, print only "promoe: error: ..." lines, name the
# file in the first, and write no latent file.
# Usage: hostile_images.sh PROMOE VAE_DIR HOSTILE_DIR WORK_DIR [VMEM_KB]
set -u
promoe=$1 vae=$2 corpus=$3 work=$4 vmem=${5:-1500000}
rm -rf "$work"
failed=0 runs=0
for f in "$corpus"/*; do
  n=$(basename "$f")
  runs=$((runs + 1))
  rm -rf "$work/images" "$work/latents"
  mkdir -p "$work/images/c"
  cp "$f" "$work/images/c/"
  err=$( (ulimit -v "$vmem"; exec timeout 60 "$promoe" encode --vae "$vae" --images "$work/images" \
    --out "$work/latents" --size 256 --threads 1 --quiet) 2>&1 > /dev/null)
  rc=$?
  why=""
  [ $rc -eq 0 ] && why="exit 0"
  [ $rc -eq 124 ] && why="hang (timeout)"
  [ $rc -ge 128 ] && why="signal $((rc - 128))"
  [ -z "$why" ] && printf '%s\n' "$err" | grep -qv "^promoe: error: " && why="a line that is not a promoe error"
  [ -z "$why" ] && ! printf '%s\n' "$err" | head -n 1 | grep -qF "$n" && why="the file is not named"
  [ -z "$why" ] && [ -n "$(find "$work/latents" -name '*.latent.npz*' 2> /dev/null)" ] && why="a latent file was written"
  if [ -n "$why" ]; then
    failed=$((failed + 1))
    printf 'FAIL (%s): %s\n  %s\n' "$why" "$n" "$(printf '%s' "$err" | head -c 400)"
  else
    printf '%s: %s\n' "$n" "$(printf '%s' "$err" | head -n 1 | cut -c 1-200)"
  fi
done
echo "$runs crafted images, $failed not refused cleanly"
[ $failed -eq 0 ]
