#!/usr/bin/env bash
# Crash safety: training killed with SIGKILL at seeded random moments, one kill timed to land in
# the middle of a checkpoint write (when the temp file appears). After every kill the checkpoint
# on disk loads (the next --resume run reads it), the run continues from its step, no more than
# one checkpoint interval of logged steps is lost, and in the end the log holds every step once.
# Usage: kill_resume.sh PROMOE DATA WORKDIR [SEED]
set -u
promoe=$1 data=$2 dir=$3
RANDOM=${4:-12}
steps=60 every=4
rm -rf "$dir"
mkdir -p "$dir"
args=(train --preset ProMoE-Tiny --data "$data" --steps $steps --batch 2 --checkpoint-every $every --log-every 1
      --out "$dir" --grid-per-class 0 --threads 1 --quiet)
fail() { echo "FAIL: $*"; exit 1; }
last_logged() { [ -f "$dir/log.jsonl" ] && grep -o '"step":[0-9]*' "$dir/log.jsonl" | tail -1 | grep -o '[0-9]*$' || echo 0; }
ckpt_step() { [ -f "$dir/checkpoint.safetensors" ] && head -c 8192 "$dir/checkpoint.safetensors" | grep -ao '"step":"[0-9]*"' | grep -o '[0-9]*' || echo 0; }
kills=0 mid_write=0
for round in 1 2 3 4 5; do
  resume=()
  [ -f "$dir/checkpoint.safetensors" ] && resume=(--resume)
  "$promoe" "${args[@]}" "${resume[@]}" > "$dir/out.txt" 2> "$dir/err.txt" &
  pid=$!
  if [ $round -eq 3 ]; then
    # Wait for a checkpoint write to start, then kill inside it.
    for _ in $(seq 1 200000); do [ -e "$dir/checkpoint.safetensors.tmp.$pid" ] && break; done
  else
    sleep "$(printf '%d.%03d' $((1 + RANDOM % 2)) $((RANDOM % 1000)))"
  fi
  [ -e "$dir/checkpoint.safetensors.tmp.$pid" ] && mid_write=$((mid_write + 1))
  if kill -9 $pid 2> /dev/null; then
    kills=$((kills + 1))
    wait $pid 2> /dev/null
  else  # it ended before the kill: it must have succeeded (a checkpoint that did not load fails it)
    wait $pid || fail "round $round: the run failed: $(cat "$dir/err.txt")"
  fi
  logged=$(last_logged) saved=$(ckpt_step)
  [ "$saved" -ge $((logged - every)) ] || fail "round $round: checkpoint at step $saved, log reached $logged: more than one interval lost"
done
resume=()
[ -f "$dir/checkpoint.safetensors" ] && resume=(--resume)
saved=$(ckpt_step)
"$promoe" "${args[@]}" "${resume[@]}" > "$dir/out.txt" 2> "$dir/err.txt" || fail "final resume failed: $(cat "$dir/err.txt")"
grep -q "trained steps $saved..$steps" "$dir/out.txt" || fail "final run did not continue from step $saved: $(cat "$dir/out.txt")"
expected=$(seq -s ' ' 1 $steps)
got=$(grep -o '"step":[0-9]*' "$dir/log.jsonl" | grep -o '[0-9]*$' | tr '\n' ' ' | sed 's/ $//')
[ "$got" = "$expected" ] || fail "log steps are not 1..$steps once each: $got"
[ -z "$(find "$dir" -name '*.tmp.*')" ] || fail "temp files left: $(find "$dir" -name '*.tmp.*')"
echo "ok: $kills kills ($mid_write during a checkpoint write), resumed to step $steps, log intact"
