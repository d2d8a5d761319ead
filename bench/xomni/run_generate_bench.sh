#!/usr/bin/env bash
# X-Omni image-code generation throughput: `xomni generate --image-grid` against the PyTorch peer
# (bench/xomni/torch_xomni_generate.py) on the same random weights, at 2 and 1 threads.
#
# usage: bench/xomni/run_generate_bench.sh [OUT_DIR] [REPS] [SHAPES] [GRIDS]
#   OUT_DIR  work folder (default build/default/bench/xomni_generate); the table is OUT_DIR/table.md
#   REPS     repetitions per measurement, the fastest is reported (default 3)
#   SHAPES   model shapes of the peer (default "tiny h512")
#   GRIDS    token grids to time, of 8x8 and 16x16 (default "8x8 16x16")
#
# For each shape: writes random weights (config.json + model.safetensors, f32), converts them with
# `xomni convert`, checks that greedy codes (temperature 0) agree on both sides, then times
# sampling (temperature 1, min-p 0.03) of grids 8x8 and 16x16 for N = 1 and 16 equal prompts.
# Decode time (what tokens/s divides by): for xomni the whole command's median wall time minus
# that of the same command with a 1x1 grid (which covers process start, model load, the prefill
# and the first code); for PyTorch the in-process time from the first code to the last. Both
# take the fastest of REPS repetitions (other work on a shared machine only adds time) and
# count N * (h*w - 1) tokens. Needs python3-torch (Debian's /usr/bin/python3) and, for the tuned
# PyTorch configuration, the OpenMP OpenBLAS (libopenblas0-openmp).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-build/default/bench/xomni_generate}
reps=${2:-3}
shapes=${3:-tiny h512}
grids=${4:-8x8 16x16}
xomni=build/default/jobs/xomni
py=/usr/bin/python3
peer=bench/xomni/torch_xomni_generate.py
tuned=(env GLIBC_TUNABLES=glibc.malloc.hugetlb=1
  LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp)
[[ -x $xomni ]] || { echo "build xomni first: cmake --build --preset default --target xomni" >&2; exit 1; }
mkdir -p "$out"

# ~20-token prompts: 15 text ids, then <SOM>h w<IMAGE> with plain text ids standing in for the
# special tokens (SOM 1021, IMAGE 1023, digit d -> 1 + d, space 11), as the golden fixture does.
text="17 240 33 871 402 96 555 128 719 64 300 812 45 990 263"
declare -A prompt=([1x1]="$text 1021 2 11 2 1023" [8x8]="$text 1021 9 11 9 1023"
  [16x16]="$text 1021 2 7 11 2 7 1023")
printf '{"8x8": [%s], "16x16": [%s]}\n' "${prompt[8x8]// /, }" "${prompt[16x16]// /, }" \
  > "$out/prompts.json"

# Wall seconds of REPS runs of a command (its output discarded), comma-separated.
wall_times() {
  local times=()
  for ((r = 0; r < reps; r++)); do
    local t0 t1
    t0=$(date +%s.%N)
    "$@" > /dev/null
    t1=$(date +%s.%N)
    times+=("$(echo "$t1 - $t0" | bc -l | sed 's/^\./0./')")
  done
  (IFS=,; echo "${times[*]}")
}

echo "load before: $(uptime)" | tee "$out/load.txt"
results="$out/results.jsonl"
: > "$results"
for shape in $shapes; do
  dir="$out/$shape"
  $py $peer write "$dir/hf" "$shape" 2026
  $xomni convert --from "$dir/hf" --to "$dir/ckpt" > /dev/null
  ckpt="$dir/ckpt/ckpt-00000000.h5"

  # Correctness first: greedy codes of both sides must agree exactly.
  for case in "8x8 2" "16x16 1"; do
    read -r grid n <<< "$case"
    OMP_NUM_THREADS=2 $xomni generate --checkpoint "$ckpt" --prompt-ids "${prompt[$grid]}" \
      --image-grid "$grid" --n "$n" --temperature 0 > "$dir/greedy_xomni_$grid.txt"
    $py $peer greedy "$dir/hf" "${prompt[$grid]}" "${grid%x*}" "${grid#*x}" "$n" \
      > "$dir/greedy_torch_$grid.txt"
    if cmp -s "$dir/greedy_xomni_$grid.txt" "$dir/greedy_torch_$grid.txt"; then
      echo "$shape $grid N=$n: greedy codes equal ($(wc -w < "$dir/greedy_xomni_$grid.txt") codes)"
    else
      echo "$shape $grid N=$n: greedy codes DIFFER (see $dir/greedy_*_$grid.txt)" >&2
      exit 1
    fi
  done | tee -a "$out/greedy.txt"

  for th in 2 1; do
    for n in 1 16; do
      gen=("$xomni" generate --checkpoint "$ckpt" --n "$n" --temperature 1 --min-p 0.03 --seed 7)
      base=$(wall_times env OMP_NUM_THREADS="$th" "${gen[@]}" --prompt-ids "${prompt[1x1]}" --image-grid 1x1)
      for grid in $grids; do
        t=$(wall_times env OMP_NUM_THREADS="$th" "${gen[@]}" --prompt-ids "${prompt[$grid]}" --image-grid "$grid")
        printf '{"side": "xomni", "shape": "%s", "grid": "%s", "n": %d, "threads": %d, "whole_s": [%s], "base_s": [%s]}\n' \
          "$shape" "$grid" "$n" "$th" "$t" "$base" >> "$results"
      done
    done
    for side in default tuned; do
      pre=(env)
      [[ $side == tuned ]] && pre=("${tuned[@]}")
      OMP_NUM_THREADS=$th "${pre[@]}" $py $peer bench "$dir/hf" "$th" "$out/prompts.json" "$reps" "$grids" |
        sed "s/^{/{\"side\": \"torch_$side\", \"shape\": \"$shape\", /" >> "$results"
    done
  done
done
echo "load after: $(uptime)" | tee -a "$out/load.txt"

$py - "$results" > "$out/table.md" << 'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
tok = {}
for r in rows:
    h, w = map(int, r["grid"].split("x"))
    count = r["n"] * (h * w - 1)
    key = (r["shape"], r["grid"], r["n"], r["threads"])
    # The fastest repetition: on a shared machine other work only ever adds time.
    sec = min(r["whole_s"]) - min(r["base_s"]) if r["side"] == "xomni" else min(r["decode_s"])
    tok.setdefault(key, {})[r["side"]] = count / sec
print("| shape | grid | N | threads | xomni tok/s | PyTorch default tok/s | PyTorch tuned tok/s "
      "| xomni / best PyTorch |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
for (shape, grid, n, th), v in tok.items():
    if len(v) < 3:
        continue  # an interrupted run
    best = max(v["torch_default"], v["torch_tuned"])
    print(f"| {shape} | {grid} | {n} | {th} | {v['xomni']:.0f} | {v['torch_default']:.0f} "
          f"| {v['torch_tuned']:.0f} | {v['xomni'] / best:.2f} |")
EOF
cat "$out/table.md"
