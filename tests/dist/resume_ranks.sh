#!/usr/bin/env bash
# Checkpoints across rank counts: (1) a 2-rank run stopped at step 3 and resumed with 2 ranks
# ends bit for bit where the uninterrupted 2-rank run does, with the same log; (2) a checkpoint
# written by 2 ranks resumes in 1 process and (3) one written by 1 process resumes with 2 ranks,
# each ending where the uninterrupted run does within fp32 tolerance (PARAM_TOL).
#   resume_ranks.sh PROMOE COMPARE DATA WORKDIR PARAM_TOL [TRAIN ARGS...]
set -u
promoe=$1 compare=$2 data=$3 dir=$4 tol=$5
shift 5
here=$(dirname "$0")
command -v mpirun > /dev/null || { echo "skip: mpirun not found"; exit 77; }
rm -rf "$dir"
mkdir -p "$dir"
fail() { echo "FAIL: $*"; exit 1; }
args=(train --data "$data" --steps 6 --batch 4 --log-every 1 --checkpoint-every 3
      --grid-per-class 0 --threads 1 --quiet "$@")
one() { OMP_NUM_THREADS=1 "$promoe" "${args[@]}" --out "$dir/$1" "${@:2}" >> "$dir/$1.txt" 2>&1 || fail "$1: $(cat "$dir/$1.txt")"; }
two() { "$here/mpirun.sh" 2 "$promoe" "${args[@]}" --out "$dir/$1" "${@:2}" >> "$dir/$1.txt" 2>&1 || fail "$1: $(cat "$dir/$1.txt")"; }

two straight2
one straight1
two split2 --stop-after 3
two split2 --resume
"$compare" "$dir/straight2/checkpoint.safetensors" "$dir/split2/checkpoint.safetensors" 0 "" || fail "2-rank resume is not exact"
timeless() { sed 's/"elapsed_s":[^,}]*,\{0,1\}//' "$1"; }
[ "$(timeless "$dir/straight2/log.jsonl")" = "$(timeless "$dir/split2/log.jsonl")" ] ||
  fail "2-rank resumed log differs: $(diff <(timeless "$dir/straight2/log.jsonl") <(timeless "$dir/split2/log.jsonl"))"

two two_then_one --stop-after 3
one two_then_one --resume
"$compare" "$dir/straight1/checkpoint.safetensors" "$dir/two_then_one/checkpoint.safetensors" "$tol" ||
  fail "a 2-rank checkpoint resumed in 1 process does not end where 1 process does"
one one_then_two --stop-after 3
two one_then_two --resume
"$compare" "$dir/straight2/checkpoint.safetensors" "$dir/one_then_two/checkpoint.safetensors" "$tol" ||
  fail "a 1-process checkpoint resumed with 2 ranks does not end where 2 ranks do"
echo "ok: exact 2-rank resume; checkpoints move between 1 and 2 ranks"
