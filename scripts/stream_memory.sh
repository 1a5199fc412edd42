#!/usr/bin/env bash
# Trains on a latent set while sampling the process's memory from /proc/PID/status every 0.2 s,
# and prints the peaks: RssAnon (heap and other anonymous pages: what a set loaded whole costs)
# and RssFile (page cache of mapped files, which the kernel reclaims). docs/PERF.md uses it.
# Usage: stream_memory.sh PROMOE DATA OUT [train options...]
set -euo pipefail
promoe=$1 data=$2 out=$3
shift 3
rm -rf "$out"
start=$(date +%s.%N)
"$promoe" train --data "$data" --out "$out" --grid-per-class 0 --quiet "$@" > "$out.stdout" 2>&1 &
pid=$!
anon=0 file=0 samples=0
while kill -0 $pid 2> /dev/null; do
  if status=$(cat /proc/$pid/status 2> /dev/null); then
    a=$(awk '/^RssAnon:/ {print $2}' <<< "$status") f=$(awk '/^RssFile:/ {print $2}' <<< "$status")
    [ -n "$a" ] && [ "$a" -gt "$anon" ] && anon=$a
    [ -n "$f" ] && [ "$f" -gt "$file" ] && file=$f
    samples=$((samples + 1))
  fi
  sleep 0.2
done
wait $pid || { cat "$out.stdout"; exit 1; }
end=$(date +%s.%N)
grep '^data:' "$out.stdout" || true
printf 'peak RssAnon %d MiB, peak RssFile %d MiB, %d samples, %.1f s\n' $((anon / 1024)) $((file / 1024)) $samples \
  "$(echo "$end - $start" | bc)"
