#!/usr/bin/env bash
# `make demo`'s workflow on a GPU machine: the default config (backend: auto, so CuPy where
# a CUDA device is seen) and the same with backend: numpy, each timed, then their final
# particles compared (benchmarks/compare_demo.py). For a machine where cryopick is not
# installed: PYTHONPATH must reach src/ and the workflow's packages, `snakemake` be on PATH.
# Logs go to $OUT (default: ./gpu-logs).
set -u
OUT=${OUT:-gpu-logs}; mkdir -p "$OUT"
CORES=${CORES:-$(nproc)}
for backend in auto numpy; do
  dir=/tmp/demo-$backend
  rm -rf "$dir"
  start=$(date +%s.%N)
  snakemake -s "$PWD/Snakefile" --directory "$dir" --cores "$CORES" \
    --configfile "$PWD/config/config.yaml" --config backend=$backend \
    >"$OUT/demo_$backend.log" 2>&1
  rc=$?
  snakemake -s "$PWD/Snakefile" --directory "$dir" --cores "$CORES" \
    --configfile "$PWD/config/config.yaml" --config backend=$backend \
    --report "$dir/report.html" >>"$OUT/demo_$backend.log" 2>&1
  report=$?
  end=$(date +%s.%N)
  seconds=$(python3 -c "print(round($end - $start, 1))")
  echo "demo, backend $backend: exit $rc, report exit $report, $seconds s" \
    | tee -a "$OUT/demo_summary.txt"
done
python3 benchmarks/compare_demo.py /tmp/demo-numpy /tmp/demo-auto | tee -a "$OUT/demo_summary.txt"
