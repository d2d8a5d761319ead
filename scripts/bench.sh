#!/usr/bin/env bash
# Runs the op benchmarks and the PyTorch peer in one go and writes docs/PERF.md.
# Needs python3-torch (scripts/install_deps.sh --with-peers). Run on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh --with-peers
cmake --preset default >/dev/null
cmake --build --preset default --target xomni_bench_ops xomni_bench_lm_step
out=build/default/bench
OMP_NUM_THREADS=2 "$out/xomni_bench_ops" --benchmark_min_time=0.5 --benchmark_repetitions=5 \
  --benchmark_out="$out/xomni.json" --benchmark_out_format=json
OMP_NUM_THREADS=2 /usr/bin/python3 bench/torch_peer.py 2 > "$out/torch_default.json"
OMP_NUM_THREADS=2 GLIBC_TUNABLES=glibc.malloc.hugetlb=1 \
  LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp \
  /usr/bin/python3 bench/torch_peer.py 2 > "$out/torch_tuned.json"
/usr/bin/python3 bench/report.py "$out/xomni.json" "$out/torch_default.json" "$out/torch_tuned.json" docs/PERF.md

# Whole-model training step at 1 and 2 threads, appended to docs/PERF.md.
peer_tuned=(env GLIBC_TUNABLES=glibc.malloc.hugetlb=1 LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp)
for th in 1 2; do
  OMP_NUM_THREADS=$th "$out/xomni_bench_lm_step" 3 > "$out/lm_xomni_$th.json"
  OMP_NUM_THREADS=$th /usr/bin/python3 bench/torch_lm_step.py "$th" 3 > "$out/lm_torch_default_$th.json"
  OMP_NUM_THREADS=$th "${peer_tuned[@]}" /usr/bin/python3 bench/torch_lm_step.py "$th" 3 > "$out/lm_torch_tuned_$th.json"
done
/usr/bin/python3 bench/report_lm_step.py docs/PERF.md "$out"/lm_xomni_{1,2}.json \
  "$out"/lm_torch_default_{1,2}.json "$out"/lm_torch_tuned_{1,2}.json

# Tensor/data-parallel step times and communication volume on 2 MPI ranks.
cmake --build --preset default --target xomni_bench_tp_step
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1
mpirun -np 2 --bind-to none "$out/xomni_bench_tp_step" 5 > "$out/tp_step.md"
/usr/bin/python3 bench/replace_section.py docs/PERF.md "$out/tp_step.md"

# The 1F1B pipeline bubble at 2 and 4 stages (4 ranks oversubscribe 2 cores; see the section).
cmake --build --preset default --target xomni_bench_pipeline
export OMPI_MCA_rmaps_base_oversubscribe=1
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 mpirun -np 2 --bind-to none \
  -x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS "$out/xomni_bench_pipeline" 5 > "$out/pipeline.md"
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 mpirun -np 4 --bind-to none \
  -x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS "$out/xomni_bench_pipeline" 5 --rows-only >> "$out/pipeline.md"
/usr/bin/python3 bench/replace_section.py docs/PERF.md "$out/pipeline.md"
