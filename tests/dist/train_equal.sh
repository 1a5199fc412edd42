#!/usr/bin/env bash
# Data parallelism reproduces one process: the same training (ARGS, a global batch) run by one
# process and by NP ranks under mpirun logs the same loss at every step (relative LOSS_TOL) and
# ends with the same parameters (absolute PARAM_TOL, compare_checkpoints). With --expect-differ
# the two must NOT agree (the check shows it can fail: per-rank routing losses).
#   train_equal.sh PROMOE COMPARE WORKDIR NP LOSS_TOL PARAM_TOL [--expect-differ] -- ARGS...
set -u
promoe=$1 compare=$2 dir=$3 np=$4 loss_tol=$5 param_tol=$6
shift 6
expect=same
[ "${1:-}" = "--expect-differ" ] && { expect=differ; shift; }
[ "${1:-}" = "--" ] && shift
here=$(dirname "$0")
command -v mpirun > /dev/null || { echo "skip: mpirun not found"; exit 77; }
rm -rf "$dir"
mkdir -p "$dir"
fail() { echo "FAIL: $*"; exit 1; }
OMP_NUM_THREADS=1 "$promoe" train "$@" --out "$dir/one" --threads 1 --quiet > "$dir/one.txt" 2>&1 ||
  fail "one process: $(cat "$dir/one.txt")"
"$here/mpirun.sh" "$np" "$promoe" train "$@" --out "$dir/many" --threads 1 --quiet > "$dir/many.txt" 2>&1 ||
  fail "$np ranks: $(cat "$dir/many.txt")"
steps() { grep -o '"step":[0-9]*' "$1" | grep -o '[0-9]*$' | tr '\n' ' '; }
[ "$(steps "$dir/one/log.jsonl")" = "$(steps "$dir/many/log.jsonl")" ] || fail "the logs hold different steps"
losses() { grep -o "\"$2\":[-0-9.e+]*" "$1" | cut -d: -f2; }
worst=0
for key in loss aux; do
  worst=$(paste <(losses "$dir/one/log.jsonl" $key) <(losses "$dir/many/log.jsonl" $key) |
    awk -v w="$worst" '{d = $1 - $2; if (d < 0) d = -d; s = ($1 < 0 ? -$1 : $1); if (s < 1e-6) s = 1e-6;
                        if (d / s > w) w = d / s} END {printf "%.3g", w}')
done
params=$("$compare" "$dir/one/checkpoint.safetensors" "$dir/many/checkpoint.safetensors" "$param_tol")
params_ok=$?
echo "1 vs $np ranks: largest relative loss difference $worst (tolerance $loss_tol); $params"
loss_ok=$(awk -v w="$worst" -v t="$loss_tol" 'BEGIN {print (w <= t) ? 0 : 1}')
if [ $expect = same ]; then
  [ "$loss_ok" = 0 ] || fail "per-step losses differ by $worst"
  [ $params_ok = 0 ] || fail "final parameters differ"
  echo "ok: $np ranks reproduce one process"
else
  [ "$loss_ok" = 1 ] || [ $params_ok = 1 ] || fail "the runs agree, but were expected to differ"
  echo "ok: the runs differ, as expected"
fi
