#!/usr/bin/env bash
# Fault test: one rank of a two-rank data-parallel run dies (SIGKILL, as a crashed node). The
# job must end promptly with a non-zero status, the checkpoints saved before stay valid, and the
# run resumes from them to the end.
#   tests/reliability/dead_rank.sh XOMNI MPIEXEC
set -euo pipefail
xomni="$1"
mpiexec="$2"
source "$(dirname "$0")/common.sh"
start_two_ranks
kill -KILL "$victim"
start=$SECONDS
status=0
wait "$launcher" || status=$?
elapsed=$((SECONDS - start))
[[ $status -ne 0 ]] || fail "the job exited 0 with a dead rank"
[[ $elapsed -le 60 ]] || fail "the job took ${elapsed}s to end after a rank died"
check_resumes "dead rank"
echo "1 passed, 0 failed (job ended ${elapsed}s after the rank died)"
