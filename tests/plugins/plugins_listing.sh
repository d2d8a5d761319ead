#!/usr/bin/env bash
# `xomni plugins` with libraries on the path whose constructors crash (SIGSEGV), hang and call
# exit(3): each is listed with what happened, the listing goes on to the working plugins after
# them, the command succeeds, nothing the command printed before is printed twice, and what the
# libraries print stays out of the listing.
# usage: plugins_listing.sh <xomni> <folder of the bad libraries> <build plugin folder>
set -euo pipefail
xomni=$1 bad=$2 built=$3
start=$(date +%s)
out=$(XOMNI_PLUGIN_PATH="$bad:/no/such/folder" "$xomni" plugins --timeout 1) ||
  { echo "FAIL: xomni plugins exited with $?"; echo "$out"; exit 1; }
took=$(( $(date +%s) - start ))
echo "$out"
expect() {
  grep -qF -- "$1" <<< "$out" || { echo "FAIL: the listing does not say '$1'"; exit 1; }
}
expect "$bad/libxomni_reward_test_crash_on_load.so: crashed while loading (signal 11"
expect "$bad/libxomni_reward_test_hang_on_load.so: still loading after 1 s, stopped"
expect "$bad/libxomni_reward_test_exit_on_load.so: ended the process with exit status 3"
expect "/no/such/folder (from XOMNI_PLUGIN_PATH, does not exist)"
# The built-in plugins come after the bad folder on the search path, so they were still listed.
grep -qE "^reward +contrast +1\.0\.0 +$built/libxomni_reward_contrast\.so\$" <<< "$out" ||
  { echo "FAIL: listing stopped before the built-in contrast reward"; exit 1; }
# What a library prints while loading goes to stderr, not into the listing.
if grep -qF "bad_constructor: exiting" <<< "$out"; then
  echo "FAIL: a library's own output is in the listing"; exit 1
fi
[ "$(grep -c '^search path:' <<< "$out")" = 1 ] ||
  { echo "FAIL: output printed before a child's exit() was printed again"; exit 1; }
# Only the hanging library waits for the timeout.
[ "$took" -lt 10 ] || { echo "FAIL: listing took ${took}s"; exit 1; }
# A timeout that is not a positive number is refused, naming the flag.
for bad_timeout in 0 -1 nan inf 9223372036854775808; do
  if err=$("$xomni" plugins --timeout "$bad_timeout" 2>&1); then
    echo "FAIL: --timeout $bad_timeout was accepted"; exit 1
  fi
  grep -qF -- "--timeout" <<< "$err" || { echo "FAIL: the error does not name --timeout: $err"; exit 1; }
done
echo "PASS"
