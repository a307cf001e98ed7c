#!/usr/bin/env bash
# Everything a GPU run must show, in one command, on a machine with CUDA, the
# usual Python stack (numpy, pybind11, scikit-build-core, pytest) and no
# internet.  From a checkout that has ../shared, stage the data first and carry it:
#   bash bench/stage_data.sh                 # here: copies ~200 KB into bench/.data (ignored)
#   bash bench/gpu_check.sh [--quick]        # there (device tool: carry=["bench/.data"])
# Prints: the device, the kernels' register and local-memory use, the GPU
# tests (CPU/GPU agreement in both layouts, chunking, device-side starts and
# reductions, CuPy inputs, laws compiled with nvcc), then the GPU benchmark's
# summary table.  --quick runs the benchmark at its quick scale (a few
# minutes with the build); the default is the full scale (1e7-fit ladders,
# 18 million Epoch fits): one 10-minute device call cannot hold the build, the
# tests and all of it, so run `bash bench/gpu_check.sh --quick` first and then
# parts: `bash bench/gpu_check.sh --only gpu_epoch` (about 4 minutes with the
# build), `--only gpu_ladders`, `--only gpu_layouts` (--only replaces the
# default `--only gpu`; the tests run each time).
# A failing test does not stop the benchmark (device time is scarce: one call
# should bring back everything); the exit status is the tests' or the
# benchmark's failure.  Logs and the benchmark's tables go to $OUT when set.
# Everything runs under the machine's python3 (on the H200 image a bare `pip`
# belongs to another Python).  Runs on the H200, --quick: build 131-152 s,
# tests 31-37 s (155-156 passed), benchmark 56-88 s.
set -uo pipefail
cd "$(dirname "$0")/.."
# --quick anywhere in the arguments picks the quick scale; --only (or --only=...)
# replaces the default `--only gpu`; the rest goes to bench/run.py.
scale="--full"
only="--only gpu"
passed=()
for a in "$@"; do
  case "$a" in
    --quick) scale="--quick" ;;
    --only|--only=*) only=""; passed+=("$a") ;;
    *) passed+=("$a") ;;
  esac
done
out="${OUT:-bench/results}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader || true
# Only this machine's architecture: half the nvcc time of the default "80;90".
export CMAKE_ARGS="${CMAKE_ARGS:--DCMAKE_CUDA_ARCHITECTURES=native}"
# Register and local-memory use of every kernel, for the record (sm_90),
# compiled alongside the install.
if command -v nvcc > /dev/null; then
  (nvcc -std=c++17 -O3 --fmad=false -Icpp -Icuda -arch=sm_90 -Xptxas -v -c cuda/cuda_backend.cu -o /tmp/lawfit_kernels.o > "$out/ptxas.txt" 2>&1) &
  ptxas_pid=$!
  trap 'kill "$ptxas_pid" 2> /dev/null || true' EXIT  # not left running after an early exit
fi
t0=$(date +%s)
python3 -m pip install --no-build-isolation -q . 2>&1 | tail -3 || { echo "the build failed"; exit 2; }
echo "build: $(( $(date +%s) - t0 )) s"
if [ -d bench/.data ]; then export LAWFIT_DATA="$PWD/bench/.data"; fi
export LAWFIT_CACHE="${LAWFIT_CACHE:-$PWD/bench/.jit-cache}"   # laws compiled at run time (ignored folder)
python3 - <<'PY' || exit 3
import lawfit._core as c
print("WITH_CUDA:", c.WITH_CUDA, "devices:", c.cuda_device_count(), c.cuda_device_name(0))
assert c.WITH_CUDA and c.cuda_device_count() > 0, "the CUDA back end is not usable"
PY
if [ -n "${ptxas_pid:-}" ]; then
  wait "$ptxas_pid"
  grep -E "Compiling entry|Used|stack frame" "$out/ptxas.txt" \
    | sed -E 's/_ZN6lawfit4cuda[0-9A-Za-z_]*(solve_[a-z]+_kernel|best_kernel|summary_kernel)(ILi([0-9]+)ELi([0-9]+)E)?.*/\1 NP=\3 NS=\4/' || true
fi
# progress per GPU chunk, and the engine (pruning, statistics) on device='auto'
t0=$(date +%s)
# LAWFIT_AUTO_GPU_WORK=0: device='auto' sends even the tests' small batches to the GPU.
LAWFIT_AUTO_GPU_WORK=0 python3 -m pytest -q -rfEs tests/engine/test_gpu.py tests/engine/test_reductions.py tests/engine/test_device_arrays.py \
  tests/engine/test_jit.py tests/curve_fit/test_curve_fit.py tests/engine/test_progress.py tests/engine/test_engine.py 2>&1 \
  | tee "$out/gpu_tests.log" | grep -vE "^(SKIPPED|PASSED)" | tail -60
tests_rc=${PIPESTATUS[0]}
echo "tests: rc=$tests_rc, $(( $(date +%s) - t0 )) s"
python3 bench/run.py $only $scale --out "$out" ${passed[@]+"${passed[@]}"}
bench_rc=$?
echo "gpu_check: tests rc=$tests_rc, benchmark rc=$bench_rc"
[ "$tests_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ]
