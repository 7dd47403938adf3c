#!/usr/bin/env bash
# The GPU checks in one go, for a machine with a CUDA device and CuPy but without this
# project installed: the test suite's CuPy rows (cross-backend agreement), then the GPU rows
# of benchmarks/gpu.py. Logs go to $OUT (default: ./gpu-logs).
#   WHEELS=dir  install the wheels in dir first (mrcfile, starfile, array-api-compat, ...)
set -u
OUT=${OUT:-gpu-logs}; mkdir -p "$OUT"
if [ -n "${WHEELS:-}" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site "$WHEELS"/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/device.txt"
python3 -c "import numpy, scipy, cupy; print('numpy', numpy.__version__, 'scipy', scipy.__version__, 'cupy', cupy.__version__, 'cores', __import__('os').cpu_count())" | tee -a "$OUT/device.txt"
timeout "${TEST_TIMEOUT:-200}" python3 -m pytest -q -p no:cacheprovider -n 4 -rfE -k cupy \
  tests/unit 2>&1 | tee "$OUT/pytest_cupy.log" | tail -25
timeout "${BENCH_TIMEOUT:-330}" python3 benchmarks/gpu.py ${BENCH_ARGS:-} 2>&1 \
  | tee "$OUT/gpu_benchmark.log" | tail -40
