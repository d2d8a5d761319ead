#!/usr/bin/env bash
# xomni restarts itself with OPENBLAS_CORETYPE set when OpenBLAS loaded a generic kernel set on a
# CPU with wider vectors (restart_with_fast_blas_kernels in blas_info.h). OpenBLAS picks the right
# set on most machines, so XOMNI_PRETEND_BLAS_CORE stands in for a generic one: the restart happens
# once (the child sees the variable and loads that set), the command then runs normally, and
# neither a user's own OPENBLAS_CORETYPE nor XOMNI_BLAS_RESTART=0 triggers it.
#   tests/jobs/cli/blas_restart.sh XOMNI
set -euo pipefail
xomni="$1"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
unset OPENBLAS_CORETYPE XOMNI_BLAS_RESTART

XOMNI_PRETEND_BLAS_CORE=Prescott "$xomni" --version > "$work/out" 2> "$work/err" ||
  fail "xomni --version failed after the restart: $(cat "$work/err")"
[[ $(grep -c 'restarting with OPENBLAS_CORETYPE=\(SkylakeX\|Haswell\)' "$work/err") == 1 ]] ||
  fail "expected one restart line, got: $(cat "$work/err")"
grep -q '^xomni ' "$work/out" || fail "no version after the restart: $(cat "$work/out")"
# The restarted process loaded the set the line named.
want=$(sed -n 's/.*restarting with OPENBLAS_CORETYPE=\([A-Za-z]*\).*/\1/p' "$work/err")
grep -qx "OpenBLAS kernels: $want" "$work/out" || fail "after the restart: $(cat "$work/out")"

for env in "OPENBLAS_CORETYPE=Prescott" "XOMNI_BLAS_RESTART=0"; do
  env "$env" XOMNI_PRETEND_BLAS_CORE=Prescott "$xomni" --version > /dev/null 2> "$work/err3"
  ! grep -q restarting "$work/err3" || fail "restarted although $env: $(cat "$work/err3")"
done
# Without the pretence this machine's own set decides; a right set means no restart line.
"$xomni" --version > /dev/null 2> "$work/err4"
if grep -q restarting "$work/err4"; then
  echo "note: OpenBLAS loads a generic set here: $(cat "$work/err4")"
fi
echo "ok: one restart with OPENBLAS_CORETYPE, none when the user chose or turned it off"
