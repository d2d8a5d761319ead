#!/usr/bin/env bash
# `xomni plan --calibrate` on this machine (it initialises MPI, so it runs with the mpi tests, not
# under the sanitizers, whose leak check reports Open MPI's own start-up allocations):
# - the tiny LM at 2 ranks writes a device file with the GEMM table by rows, the attention rate,
#   the cores and memory bandwidth in ranks' worth and the link, and that file plans the job;
# - the tiny RL job times one group's sampling with its own policy and writes the fixed cost per
#   layer and call it leaves (>= 0: about 90 us here on an idle box, but a GEMM calibration
#   slowed by other tests can price the model above the sampling it measured, and it is then 0).
#   tests/jobs/cli/plan_calibrate.sh XOMNI REPO MPIEXEC
set -euo pipefail
xomni="$1"
repo="$2"
mpiexec="$3"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

OMP_NUM_THREADS=1 "$mpiexec" -np 2 "$xomni" plan "$repo/jobs/tiny/lm.toml" --calibrate \
  --out "$work/dev.toml" > "$work/cal" 2>&1 || fail "calibrate: $(cat "$work/cal")"
for key in achievable gemm_rows gemm_achievable attention_achievable memory_bw cores \
  memory_cores intra_bw; do
  grep -q "^$key = " "$work/dev.toml" || fail "calibrated device file lacks $key: $(cat "$work/dev.toml")"
done
grep -q "all-reduce at 2 ranks" "$work/cal" || fail "no link calibration: $(cat "$work/cal")"
"$xomni" plan "$repo/jobs/tiny/lm.toml" --devices 2 --device-file "$work/dev.toml" --top 1 \
  > "$work/cal_plan" || fail "plan with the calibrated file"
grep -q "^tp=" "$work/cal_plan" || fail "no plan with the calibrated file: $(cat "$work/cal_plan")"

rl_job="$repo/jobs/tiny/xomni_rl.toml"
OMP_NUM_THREADS=1 "$xomni" plan "$rl_job" --calibrate --set 'rl.grid="8x8"' \
  --out "$work/rl_dev.toml" > "$work/rl_cal" 2>&1 || fail "rl calibrate: $(cat "$work/rl_cal")"
grep -Eq "rl sampling of one group \(8 rows x 64 image tokens\): 0\.[0-9]*[1-9]" "$work/rl_cal" ||
  fail "rl calibrate output: $(cat "$work/rl_cal")"
python3 - "$work/rl_dev.toml" <<'PY' || fail "rl device file: $(cat "$work/rl_dev.toml")"
import sys, tomllib
d = tomllib.load(open(sys.argv[1], "rb"))["device"]
assert d["layer_call_overhead_s"] >= 0 and d["achievable"] > 0, d
PY
"$xomni" plan "$rl_job" --devices 2 --device-file "$work/rl_dev.toml" --set 'rl.grid="8x8"' \
  > "$work/rl_plan" || fail "rl plan with the calibrated file"
grep -q "rl round, dp=2" "$work/rl_plan" || fail "rl plan: $(cat "$work/rl_plan")"
echo "plan_calibrate: ok"
