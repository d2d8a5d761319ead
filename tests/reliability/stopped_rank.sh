#!/usr/bin/env bash
# Fault test: one rank of a two-rank data-parallel run is stopped (SIGSTOP, as a hung node would
# be). The other rank's communication watchdog (parallel.timeout_s = 5), or the checkpoint deadline
# (parallel.checkpoint_timeout_s = 5) when the stop catches it inside a checkpoint's MPI-IO, must
# end the job with an error naming the timeout well before any outer limit, the checkpoints saved before stay valid,
# and the run resumes from them to the end.
#   tests/reliability/stopped_rank.sh XOMNI MPIEXEC
set -euo pipefail
xomni="$1"
mpiexec="$2"
source "$(dirname "$0")/common.sh"
start_two_ranks
kill -STOP "$victim"
start=$SECONDS
status=0
wait "$launcher" || status=$?
elapsed=$((SECONDS - start))
kill -KILL "$victim" 2> /dev/null || true
[[ $status -ne 0 ]] || fail "the job exited 0 with a stopped rank"
[[ $elapsed -le 60 ]] || fail "the job took ${elapsed}s to notice a stopped rank (timeout_s = 5)"
grep -qi "timed out\|timeout\|did not finish within" "$work/out" || { cat "$work/out" >&2; fail "no timeout message"; }
check_resumes "stopped rank"
echo "1 passed, 0 failed (stopped rank noticed after ${elapsed}s)"
