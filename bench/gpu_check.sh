#!/usr/bin/env bash
# Everything a GPU run must show, in one command, on a machine with CUDA, the
# usual Python stack (numpy, pybind11, scikit-build-core, pytest) and no
# internet:   bash bench/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
pip install --no-build-isolation -q .
python - <<'PY'
import lawfit._core as c
print("WITH_CUDA:", c.WITH_CUDA, "devices:", c.cuda_device_count(), c.cuda_device_name(0))
assert c.WITH_CUDA and c.cuda_device_count() > 0, "the CUDA back end is not usable"
PY
python -m pytest -q tests/test_gpu.py tests/test_curve_fit.py
python bench/run.py --only gpu "$@"   # Chinchilla laws 1e3..1e7, CPU vs GPU, bootstrap x grid
