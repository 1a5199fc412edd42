#!/usr/bin/env bash
# A failure on one rank ends the whole job, never a hang: (1) one rank of a 2-rank training run is
# killed with SIGKILL, (2) rank 0 cannot write its checkpoint (its path is a directory) while
# rank 1 waits in the next gradient reduction. Each time mpirun must exit non-zero within a minute
# (and in (2) print rank 0's error).
#   kill_rank.sh PROMOE DATA WORKDIR [TRAIN ARGS...]   (default: --preset Dense-Tiny)
set -u
promoe=$1 data=$2 dir=$3
shift 3
[ $# -gt 0 ] || set -- --preset Dense-Tiny
here=$(dirname "$0")
command -v mpirun > /dev/null || { echo "skip: mpirun not found"; exit 77; }
rm -rf "$dir"
mkdir -p "$dir"
fail() { echo "FAIL: $*"; exit 1; }
args=(train "$@" --data "$data" --batch 4 --log-every 1 --grid-per-class 0 --threads 1 --quiet)

"$here/mpirun.sh" 2 "$promoe" "${args[@]}" --steps 100000 --checkpoint-every 100000 --out "$dir/kill" > "$dir/kill.txt" 2>&1 &
launcher=$!
for _ in $(seq 1 600); do [ -s "$dir/kill/log.jsonl" ] && break; sleep 0.1; done
[ -s "$dir/kill/log.jsonl" ] || { kill -9 $launcher; fail "training did not start: $(cat "$dir/kill.txt")"; }
victim=$(pgrep -P $launcher -f "promoe train" | tail -1)
[ -n "$victim" ] || { kill -9 $launcher; fail "no rank process found under mpirun"; }
start=$(date +%s)
kill -9 "$victim"
for _ in $(seq 1 600); do kill -0 $launcher 2> /dev/null || break; sleep 0.1; done
if kill -0 $launcher 2> /dev/null; then
  pkill -9 -P $launcher
  kill -9 $launcher
  fail "the job still ran a minute after a rank was killed"
fi
wait $launcher
rc=$?
[ $rc -ne 0 ] || fail "mpirun exited 0 after a rank was killed"
echo "killed rank pid $victim: mpirun exited $rc after $(($(date +%s) - start)) s"

# The checkpoint's path is taken by a non-empty directory, so rank 0's atomic rename fails.
mkdir -p "$dir/write/checkpoint.safetensors/taken"
start=$(date +%s)
timeout 60 "$here/mpirun.sh" 2 "$promoe" "${args[@]}" --steps 4 --checkpoint-every 2 --out "$dir/write" \
  > "$dir/write.txt" 2>&1
rc=$?
[ $rc -ne 124 ] || fail "the job hung after rank 0 failed to write: $(cat "$dir/write.txt")"
[ $rc -ne 0 ] || fail "mpirun exited 0 although the checkpoint could not be written"
grep -q "promoe: error: rank 0 of 2: .*checkpoint" "$dir/write.txt" || fail "rank 0's error is not shown: $(cat "$dir/write.txt")"
echo "checkpoint write failed on rank 0: mpirun exited $rc after $(($(date +%s) - start)) s"
echo "ok: a failed rank ends the job"
