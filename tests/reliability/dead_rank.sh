#!/usr/bin/env bash
# Fault test: one rank of a two-rank data-parallel run dies (SIGKILL, as a crashed node). The
# job must end promptly with a non-zero status, the checkpoints saved before stay valid, and the
# run resumes from them to the end.
#   tests/reliability/dead_rank.sh XOMNI MPIEXEC
set -euo pipefail
xomni="$1"
mpiexec="$2"
source "$(dirname "$0")/common.sh"
sed -i 's/^steps = 40/steps = 100000/' "$work/job.toml"
"$mpiexec" -np 2 "$xomni" train "$work/job.toml" > "$work/out" 2>&1 &
launcher=$!
for _ in $(seq 300); do
  [[ $(newest_step) -ge 3 ]] && break
  sleep 0.1
done
victim=$(rank_pids "$launcher" | tail -n 1)
[[ -n "$victim" ]] || fail "no rank process found under mpiexec ($launcher)"
saved=$(newest_step)
kill -KILL "$victim"
start=$SECONDS
status=0
wait "$launcher" || status=$?
elapsed=$((SECONDS - start))
[[ $status -ne 0 ]] || fail "the job exited 0 with a dead rank"
[[ $elapsed -le 60 ]] || fail "the job took ${elapsed}s to end after a rank died"
[[ $(newest_step) -ge $saved ]] || fail "checkpoints lost: newest $(newest_step) < $saved"
resume_at=$(( $(newest_step) + 3 ))
"$xomni" train "$work/job.toml" --set "train.steps=$resume_at" > "$work/resume" 2>&1 ||
  { cat "$work/resume" >&2; fail "resume after the dead rank"; }
grep -q "resuming from" "$work/resume" || { cat "$work/resume" >&2; fail "did not resume"; }
echo "1 passed, 0 failed (job ended ${elapsed}s after the rank died)"
