#!/usr/bin/env bash
# The main job on the embedded default. Until a training stage exists this builds xomni and
# runs the core op benchmarks in one process (results in build/default/bench/results.json).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
cmake --preset default >/dev/null
cmake --build --preset default
OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}" build/default/bench/xomni_bench_ops \
  --benchmark_out=build/default/bench/results.json --benchmark_out_format=json "$@"
