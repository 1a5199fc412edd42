#!/usr/bin/env bash
# Builds the fuzz targets (clang++, libFuzzer, ASan + UBSan) and runs each for SECONDS on a copy
# of its committed seeds, printing the executions each ran. Exits 77 (skipped) where clang++ with
# libFuzzer is missing. Usage:
#   run_fuzz.sh BUILD_DIR MAIN_BUILD_DIR SECONDS [TARGET...] [-- LIB_DEPS...]
# e.g. bash tests/fuzz/run_fuzz.sh build/fuzz build 600 fuzz_idx_gzip
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$1 main_build=$2 seconds=$3
shift 3
targets=() deps=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do targets+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift && deps=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_safetensors fuzz_idx fuzz_idx_gzip fuzz_npy fuzz_npz fuzz_png fuzz_image fuzz_latents fuzz_checkpoint fuzz_case fuzz_model_config fuzz_vae_config fuzz_vae_weights fuzz_pth fuzz_latent_shards)

probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' > "$probe/p.cpp"
if ! command -v clang++ > /dev/null || ! clang++ -fsanitize=fuzzer,address,undefined "$probe/p.cpp" -o "$probe/p" 2> /dev/null; then
  echo "SKIPPED: clang++ with libFuzzer not found (Debian: apt-get install clang)"
  exit 77
fi
deps_arg=$(IFS=';'; echo "${deps[*]:-}")
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_COMPILER=clang++ -DPROMOE_BUILD="$(realpath "$main_build")" \
  -DPROMOE_LIB_DEPS="$deps_arg" > "$build.configure.log" 2>&1 || { cat "$build.configure.log"; exit 1; }
cmake --build "$build" -j 2 --target "${targets[@]}" > "$build.build.log" 2>&1 || { grep -m 20 -E "error" "$build.build.log"; exit 1; }

status=0
for t in "${targets[@]}"; do
  seeds="$here/seeds/${t#fuzz_}"
  [ "$t" = fuzz_idx_gzip ] && seeds="$here/seeds/idx"
  dict="$here/dicts/${t#fuzz_}.dict"
  [ "$t" = fuzz_idx_gzip ] && dict="$here/dicts/idx.dict"
  work="$build/corpus/$t"
  mkdir -p "$work" "$build/artifacts"
  max_len=65536
  [ "$t" = fuzz_pth ] && max_len=131072  # its official-layout seed is a 100 KB torch.save archive
  args=(-max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=512 -max_len="$max_len" -timeout=20
        -artifact_prefix="$build/artifacts/$t-" -print_final_stats=1)
  [ -f "$dict" ] && args+=(-dict="$dict")
  log="$build/$t.log"
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=0 \
    "$build/$t" "${args[@]}" "$work" "$seeds" > "$log" 2>&1
  rc=$?
  runs=$(grep -oE "stat::number_of_executed_units: *[0-9]+" "$log" | grep -oE "[0-9]+$" | tail -1)
  if [ $rc -ne 0 ]; then
    echo "$t: FINDING after ${runs:-?} executions (exit $rc); artifact in $build/artifacts, log $log"
    grep -m 8 -E "ERROR|SUMMARY|contract violated|runtime error|#0 |#1 |#2 " "$log"
    status=1
  else
    echo "$t: ${runs:-?} executions in ${seconds}s, no finding"
  fi
done
exit $status
