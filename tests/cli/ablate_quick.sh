#!/usr/bin/env bash
# `promoe ablate --quick`: every core row trains, is scored and reaches the tables; a second run
# of the same command reuses every stored point (no training, same tables); a bad variant is
# refused. Usage: ablate_quick.sh PROMOE TMPDIR
set -euo pipefail
promoe=$1
dir=$2/ablate_quick
rm -rf "$dir"
mkdir -p "$2"
fail() {
  echo "FAIL: $*"
  exit 1
}
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || {
  echo "SKIPPED: Debian's dataset-fashion-mnist is not installed"
  exit 77
}

"$promoe" ablate --quick --out "$dir" --threads 2 >"$dir.first" 2>"$dir.err" || {
  cat "$dir.err"
  fail "ablate --quick failed"
}
for f in results.md results.csv points.csv fd_vs_steps.png; do [ -s "$dir/$f" ] || fail "missing $dir/$f"; done
for v in dense tc_lb promoe promoe_no_rcl promoe_no_uncond; do
  grep -q "(\`$v\`)" "$dir/results.md" || fail "results.md has no row for $v"
  [ "$(grep -c "^$v," "$dir/points.csv")" -eq 4 ] || fail "points.csv: $v should have 2 seeds x 2 points"
done
[ "$(wc -l <"$dir/results.csv")" -eq 6 ] || fail "results.csv: expected a header and 5 rows"
# Every row's FD is a finite number; the MoE rows have a specialisation, the dense row none.
awk -F, 'NR > 1 && ($6 == "" || $6 != $6 + 0) { exit 1 }' "$dir/results.csv" || fail "a row without FD"
grep "^dense," "$dir/results.csv" | awk -F, '{ exit ($18 != "") }' || fail "dense row has a specialisation"
grep "^promoe," "$dir/results.csv" | awk -F, '{ exit ($18 == "") }' || fail "promoe row lacks a specialisation"

cp "$dir/results.csv" "$dir.csv_before"
"$promoe" ablate --quick --out "$dir" --threads 2 >"$dir.second" 2>"$dir.err2" || fail "second run failed"
if grep -q "step 1/4" "$dir.err2"; then fail "the second run trained again"; fi
cmp -s "$dir/results.csv" "$dir.csv_before" || fail "the second run changed results.csv"

"$promoe" ablate --quick --variants promoe,moe_xl --out "$dir" 2>"$dir.err3" && fail "an unknown variant was accepted"
grep -q "unknown variant 'moe_xl'" "$dir.err3" || fail "the error does not name the variant: $(cat "$dir.err3")"
echo "ablate --quick: 5 rows x 2 seeds, resumed without retraining"
