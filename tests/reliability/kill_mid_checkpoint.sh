#!/usr/bin/env bash
# Fault test: SIGKILL a training run at random moments (it checkpoints every step, so most kills
# land in or near a checkpoint write), eight times, resuming after each. Nothing saved may be
# lost: each resume starts at or after the newest checkpoint seen before the kill, no .tmp file
# survives a clean finish, and metrics.jsonl ends with every step exactly once.
#   tests/reliability/kill_mid_checkpoint.sh XOMNI
set -euo pipefail
xomni="$1"
source "$(dirname "$0")/common.sh"
RANDOM=7
for i in $(seq 8); do
  before=$(newest_step)
  "$xomni" train "$work/job.toml" > "$work/out.$i" 2>&1 &
  pid=$!
  sleep "0.$((RANDOM % 9 + 1))"
  kill -KILL "$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
  # A resume must never start before the newest checkpoint that existed before this kill.
  if grep -q "resuming from" "$work/out.$i"; then
    from=$(grep -o 'resuming from .*step [0-9]*' "$work/out.$i" | grep -o '[0-9]*$')
    [[ $from -ge $before ]] || fail "kill $i: resumed at step $from, but step $before was saved"
  fi
done
"$xomni" train "$work/job.toml" > "$work/final" 2>&1 || { cat "$work/final" >&2; fail "final run"; }
grep -q "final training loss" "$work/final" || { cat "$work/final" >&2; fail "no summary"; }
[[ $(newest_step) -eq 40 ]] || fail "newest checkpoint is step $(newest_step), not 40"
[[ -z $(find "$run_dir" -name '*.tmp') ]] || fail "temporary files left: $(find "$run_dir" -name '*.tmp')"
check_metrics_complete 40
echo "1 passed, 0 failed (8 kills)"
