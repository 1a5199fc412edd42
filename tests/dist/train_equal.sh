#!/usr/bin/env bash
# Data parallelism reproduces one process: the same training (ARGS, a global batch) run by one
# process and by NP ranks under mpirun logs the same loss at every step (relative LOSS_TOL) and
# ends with the same parameters (absolute PARAM_TOL, compare_checkpoints). With --expect-differ
# the two must NOT agree (the check shows it can fail: per-rank routing losses). --ranks-only ARG
# (repeatable) passes ARG to the NP-rank run alone (--expert-parallel), and then the AdamW moments
# must agree too (the checkpoint of the NP ranks is gathered from their expert shards).
# --reference-ranks N runs the reference under mpirun with N ranks instead of one process.
#   train_equal.sh PROMOE COMPARE WORKDIR NP LOSS_TOL PARAM_TOL [--expect-differ] [--ranks-only ARG]...
#                  [--reference-ranks N] -- ARGS...
set -u
promoe=$1 compare=$2 dir=$3 np=$4 loss_tol=$5 param_tol=$6
shift 6
expect=same
ranks_only=()
reference_ranks=1
prefixes=(model.)
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  case $1 in
    --expect-differ) expect=differ ;;
    --reference-ranks) reference_ranks=$2; shift ;;
    --ranks-only) ranks_only+=("$2"); prefixes=(model. ema. opt.exp_avg. opt.exp_avg_sq.); shift ;;
    *) echo "train_equal.sh: unknown option $1"; exit 2 ;;
  esac
  shift
done
[ "${1:-}" = "--" ] && shift
here=$(dirname "$0")
command -v mpirun > /dev/null || { echo "skip: mpirun not found"; exit 77; }
rm -rf "$dir"
mkdir -p "$dir"
fail() { echo "FAIL: $*"; exit 1; }
if [ "$reference_ranks" = 1 ]; then
  OMP_NUM_THREADS=1 "$promoe" train "$@" --out "$dir/one" --threads 1 --quiet > "$dir/one.txt" 2>&1 ||
    fail "one process: $(cat "$dir/one.txt")"
else
  "$here/mpirun.sh" "$reference_ranks" "$promoe" train "$@" --out "$dir/one" --threads 1 --quiet > "$dir/one.txt" 2>&1 ||
    fail "$reference_ranks ranks (reference): $(cat "$dir/one.txt")"
fi
"$here/mpirun.sh" "$np" "$promoe" train "$@" "${ranks_only[@]}" --out "$dir/many" --threads 1 --quiet > "$dir/many.txt" 2>&1 ||
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
params="" params_ok=0
for prefix in "${prefixes[@]}"; do
  line=$("$compare" "$dir/one/checkpoint.safetensors" "$dir/many/checkpoint.safetensors" "$param_tol" "$prefix") ||
    params_ok=1
  params="$params${params:+; }$line"
done
if [ ${#ranks_only[@]} -gt 0 ]; then  # and the gathered file holds nothing the reference lacks
  line=$("$compare" "$dir/many/checkpoint.safetensors" "$dir/one/checkpoint.safetensors" "$param_tol" "") ||
    params_ok=1
  params="$params; reversed: $line"
fi
echo "$reference_ranks vs $np ranks: largest relative loss difference $worst (tolerance $loss_tol); $params"
loss_ok=$(awk -v w="$worst" -v t="$loss_tol" 'BEGIN {print (w <= t) ? 0 : 1}')
if [ $expect = same ]; then
  [ "$loss_ok" = 0 ] || fail "per-step losses differ by $worst"
  [ $params_ok = 0 ] || fail "final parameters differ"
  echo "ok: $np ranks reproduce one process"
else
  [ "$loss_ok" = 1 ] || [ $params_ok = 1 ] || fail "the runs agree, but were expected to differ"
  echo "ok: the runs differ, as expected"
fi
