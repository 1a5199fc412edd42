#!/usr/bin/env bash
# Under a sanitizer build (-DPROMOE_SANITIZE=address,undefined): the crafted-file corpus against
# every command that reads files, hostile option values, and a short training + sampling + routing
# run; any sanitizer report fails. Usage: sanitize_check.sh PROMOE SOURCE_DIR WORKDIR
set -u
promoe=$1 src=$2 work=$3
rm -rf "$work"
mkdir -p "$work"
export ASAN_OPTIONS=abort_on_error=0:halt_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
reports=0
scan() {  # scan LOG: count sanitizer reports in it
  if grep -qE "AddressSanitizer|LeakSanitizer|runtime error:|UndefinedBehaviorSanitizer" "$1"; then
    echo "sanitizer report in $1:"
    grep -m 10 -E "ERROR|SUMMARY|runtime error" "$1"
    reports=$((reports + 1))
  fi
}
data=$src/tests/cli/valid_latents.safetensors
"$promoe" train --preset ProMoE-Tiny --data "$data" --steps 3 --batch 2 --checkpoint-every 2 --out "$work/run" \
  --grid-per-class 1 --grid-steps 2 --threads 2 --quiet > "$work/train.log" 2>&1 || { cat "$work/train.log"; exit 1; }
scan "$work/train.log"
"$promoe" train --preset ProMoE-Tiny --data "$data" --steps 4 --batch 2 --out "$work/run" --resume --grid-per-class 0 \
  --threads 2 --quiet > "$work/resume.log" 2>&1 || { cat "$work/resume.log"; exit 1; }
scan "$work/resume.log"
ckpt=$work/run/checkpoint.safetensors
"$promoe" sample --checkpoint "$ckpt" --per-class 1 --steps 2 --out "$work/s.png" > "$work/sample.log" 2>&1 \
  || { cat "$work/sample.log"; exit 1; }
scan "$work/sample.log"
"$promoe" routing --checkpoint "$ckpt" --data "$data" --per-class 2 --out "$work/routing" > "$work/routing.log" 2>&1 \
  || { cat "$work/routing.log"; exit 1; }
scan "$work/routing.log"
# Bad input: the corpus (no address-space limit: the sanitizer's shadow memory needs it) and options.
bash "$src/tests/cli/hostile_corpus.sh" "$promoe" "$src/tests/cli/hostile" "$ckpt" "$work/hostile" unlimited \
  > "$work/hostile.log" 2>&1
rc=$?
scan "$work/hostile.log"
[ $rc -eq 0 ] || { tail -20 "$work/hostile.log"; exit 1; }
for args in "train --threads 100000" "train --steps 99999999999999999999" "routing --checkpoint $ckpt --sigma nan" \
  "sample --no-such-flag" "frob" "train --lr 1e39 --data $data --steps 2 --checkpoint-every 1 --out $work/nan"; do
  # shellcheck disable=SC2086
  "$promoe" $args > /dev/null 2> "$work/args.log"
  rc=$?
  scan "$work/args.log"
  [ $rc -ne 0 ] && [ $rc -lt 128 ] || { echo "'promoe $args' exit $rc"; cat "$work/args.log"; exit 1; }
done
echo "sanitize check: $reports sanitizer reports"
[ $reports -eq 0 ]
