#!/usr/bin/env bash
# The checks that need an NVIDIA GPU, in one script: build with CUDA, the CUDA backend against the
# CPU backend (cuda_tests), the parity cases on the GPU, training-step benchmarks in fp32 and bf16,
# one MoE layer against a dense MLP of equal FLOPs,
# the PyTorch twin on the same GPU (bf16 autocast, eager and torch.compile; TWIN=0 skips it), and a
# short Fashion-MNIST run on the GPU in bf16 beside the same run on the CPU in fp32 (loss curves in
# run_*/log.jsonl).
# Results go to $OUT (default gpu-results/). DEPS=<dir> points at a copy of the Debian packages'
# files (<dir>/usr/...) on machines where they are not installed.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-results}
mkdir -p "$out"
prefix=()
data=fashion-mnist
if [ -n "${DEPS:-}" ]; then
  d=$(cd "$DEPS" && pwd)/usr
  prefix=(-DCMAKE_PREFIX_PATH="$d" -DCMAKE_INCLUDE_PATH="$d/include" -DCMAKE_LIBRARY_PATH="$d/lib/x86_64-linux-gnu")
  data=$d/share/datasets/fashion-mnist
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
cmake -S . -B build-gpu -DPROMOE_CUDA=ON -DPROMOE_CUDA_ARCHS="${ARCHS:-90}" "${prefix[@]}" > "$out/configure.log" 2>&1 \
  || { tail -30 "$out/configure.log"; exit 1; }
cmake --build build-gpu -j "$(nproc)" > "$out/build.log" 2>&1 || { grep -m 20 -E "error|Error" "$out/build.log"; exit 1; }
echo "== cuda_tests"
./build-gpu/tests/cuda_tests > "$out/cuda_tests.txt" 2>&1; echo "rc=$?"; tail -6 "$out/cuda_tests.txt"
echo "== parity on the GPU"
./build-gpu/apps/promoe check --device cuda tests/cases/*.safetensors > "$out/check_cuda.txt" 2>&1; echo "rc=$?"
grep -E "PASS|FAIL|error" "$out/check_cuda.txt"
echo "== training step"
# MFU against the dense peaks of an H100/H200 SXM (fp32 without tensor cores, bf16 tensor cores).
for run in "fp32 ${PEAK_FP32:-67}" "bf16 ${PEAK_BF16:-989}"; do
  set -- $run
  ./build-gpu/apps/promoe bench --what step --device cuda --precision $1 --peak-tflops $2 --preset ProMoE-B \
    --preset Dense-DiT-B --batch 32 --repeats 5 2>&1 | tee "$out/bench_gpu_$1.txt"
done
echo "== one MoE layer against a dense MLP of equal FLOPs (bf16)"
./build-gpu/apps/promoe bench --what moe --device cuda --precision bf16 --preset ProMoE-B --batch 32 --repeats 9 \
  2>&1 | tee "$out/bench_moe_gpu.txt"
if [ "${TWIN:-1}" = 1 ]; then
  echo "== PyTorch twin on the same GPU (bf16 autocast)"
  python3 tests/twin/bench_twin.py --device cuda --precision bf16 --promoe build-gpu/apps/promoe \
    --presets ProMoE-B Dense-DiT-B --batch 32 --rounds 3 --k 3 --json "$out/twin_gpu.json" 2>&1 | tail -5
fi
echo "== Fashion-MNIST, GPU and CPU"
for run in "cuda bf16" "cpu fp32"; do
  set -- $run
  /usr/bin/time -f "$1 $2: %e s" ./build-gpu/apps/promoe train --preset ProMoE-Tiny --steps "${STEPS:-200}" \
    --batch 64 --lr 1e-3 --warmup 50 --data "$data" --device $1 --precision $2 --threads 8 --out "$out/run_$1" \
    --grid-per-class 0 --log-every 20 --quiet 2>&1 | tail -2
done
python3 - "$out" <<'PY'
import json, sys
rows = [[json.loads(l) for l in open(f"{sys.argv[1]}/run_{d}/log.jsonl")] for d in ("cuda", "cpu")]
print("step  loss_cuda  loss_cpu")
for a, b in zip(*rows):
    print(f"{a['step']:5d}  {a['loss']:.5f}  {b['loss']:.5f}")
PY
