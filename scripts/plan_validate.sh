#!/usr/bin/env bash
# The step model (xomni plan --layout) against measured runs on this machine: peak RSS per rank
# (metrics' peak_rss_mib, max over ranks) and the median step time over steps 2..N.
#   scripts/plan_validate.sh JOB.toml NP LAYOUT [--set k=v]...      e.g. jobs/tiny/lm.toml 2 tp=2
# Prints one line: layout, predicted and measured MiB, predicted and measured step seconds.
# Needs jobs/tiny's data (jobs/tiny/run_lm.sh prepares it). DEVICE_FILE picks a device file,
# STEPS the run length (6; the median of steps 2..STEPS is the measured step).
set -euo pipefail
xomni="${XOMNI:-build/default/jobs/xomni}"
job=$1 np=$2 layout=$3
shift 3
sets=("$@")
steps="${STEPS:-6}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"  # one thread per rank, as the cpu device assumes
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
par=()
IFS=',' read -ra dims <<<"$layout"
for d in "${dims[@]}"; do par+=(--set "parallel.${d}"); done
set_args=()
for s in "${sets[@]}"; do set_args+=("$s"); done
mpirun --allow-run-as-root --oversubscribe --bind-to none -np "$np" "$xomni" train "$job" \
  "${set_args[@]}" "${par[@]}" --set "run.dir=\"$out\"" --set run.name=\"v\" \
  --set "train.steps=$steps" --set train.checkpoint_every=0 --set train.eval_every=0 \
  --set train.log_every=1000 --set schedule.kind=constant >"$out/train.log" 2>&1 || { cat "$out/train.log" >&2; exit 1; }
device=(--device cpu)
[[ -n "${DEVICE_FILE:-}" ]] && device=(--device-file "$DEVICE_FILE")
"$xomni" plan "$job" --devices "$np" "${device[@]}" --layout "$layout" "${set_args[@]}" \
  --json "$out/plan.json" >/dev/null
python3 - "$out/v/metrics.jsonl" "$out/plan.json" "$layout" "$np" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"loss"' in l]
plan = json.load(open(sys.argv[2]))
rss = max(r["peak_rss_mib"] for r in rows)
times = [1.0 / r["tokens_per_s"] for r in rows[1:]]  # seconds per token; x tokens below
step_tokens = plan["step_s"] * plan["tokens_per_s"]
measured_s = statistics.median(times) * step_tokens
pred_mib = plan["memory_bytes"]["total"] / 1048576
print(f"{sys.argv[3]:<16} np={sys.argv[4]}  memory predicted {pred_mib:8.1f} MiB measured {rss:8.1f} "
      f"MiB ({100 * (pred_mib - rss) / rss:+.1f}%)  step predicted {plan['step_s']:.4f} s measured "
      f"{measured_s:.4f} s ({100 * (plan['step_s'] - measured_s) / measured_s:+.1f}%)")
PY
