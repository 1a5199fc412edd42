#!/usr/bin/env bash
# A checkpoint write that runs past the file-size limit (ulimit -f, SIGXFSZ / EFBIG, the same
# path as a full disk): the run must stop with a one-line message naming the problem and a
# non-zero exit (no signal), leave no temp file, and keep the previous checkpoint, from which a
# later run resumes. Usage: file_size_limit.sh PROMOE DATA WORKDIR
set -u
promoe=$1 data=$2 dir=$3
rm -rf "$dir"
mkdir -p "$dir"
common=(--preset Dense-Tiny --data "$data" --batch 2 --out "$dir" --grid-per-class 0 --threads 1 --quiet)
"$promoe" train "${common[@]}" --steps 1 > /dev/null || { echo "setup run failed"; exit 1; }
size=$(stat -c %s "$dir/checkpoint.safetensors")
# ulimit -f counts 512-byte blocks (bash): half the checkpoint fits, the whole does not.
err=$( (ulimit -f $((size / 1024)); exec "$promoe" train "${common[@]}" --steps 2 --resume) 2>&1 > /dev/null)
rc=$?
[ $rc -ne 0 ] || { echo "expected a failure, got exit 0"; exit 1; }
[ $rc -lt 128 ] || { echo "killed by signal $((rc - 128)): $err"; exit 1; }
[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || { printf 'expected one line of error, got:\n%s\n' "$err"; exit 1; }
printf '%s\n' "$err" | grep -q "File too large" || { echo "error does not name the cause: $err"; exit 1; }
leftover=$(find "$dir" -name '*.tmp.*')
[ -z "$leftover" ] || { echo "temp file left behind: $leftover"; exit 1; }
out=$("$promoe" train "${common[@]}" --steps 2 --resume) || { echo "resume from the surviving checkpoint failed"; exit 1; }
printf '%s\n' "$out" | grep -q "trained steps 1..2" || { echo "did not resume from step 1: $out"; exit 1; }
echo "ok (exit $rc): $err"
