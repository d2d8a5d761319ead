#!/usr/bin/env bash
# Builds the libFuzzer targets (the `fuzz` preset: clang, ASan + UBSan) and runs each one for a
# fixed time on a scratch copy of its committed seed corpus (tests/fuzz/corpus/<target>).
# Usage: scripts/fuzz.sh [--seconds N] [--jobs J] [target ...]   (default: every target, 30 s)
# A finding (crash, sanitizer report, leak, timeout, out-of-memory, an unclear error escaping a
# loader) stops the run with its input saved under build/fuzz/findings/<target>/; fix it, then
# copy the input to tests/fuzz/regressions/<target>/ so every test run replays it.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=30
jobs=1
targets=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if [[ ${#targets[@]} -eq 0 ]]; then
  for d in tests/fuzz/corpus/*/; do targets+=("$(basename "$d")"); done
fi

cmake --preset fuzz > /dev/null
mkdir -p build/fuzz
cmake --build --preset fuzz > build/fuzz/build.log 2>&1 || { tail -n 40 build/fuzz/build.log; exit 1; }

build=build/fuzz
export OMP_NUM_THREADS=1
# Leaks count as findings; a loader that leaks on bad input leaks on every bad file it is given.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:symbolize=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
# A single allocation over 1 GiB is a finding (a size taken from the input before it was checked),
# except in the HDF5 targets: HDF5 1.10 itself allocates what a damaged object header claims
# (seen: 4 GiB, lazily mapped, then refused with an HDF5 error, and 2^61 bytes, which malloc
# refuses and HDF5 reports); there only resident memory counts, and an impossible allocation
# returns NULL as it does without ASan.
hdf5_target() { [[ "$1" == checkpoint || "$1" == token_shards || "$1" == image_shards ]]; }
malloc_limit_mb() { if hdf5_target "$1"; then echo 65536; else echo 1024; fi; }
asan_options() {
  if hdf5_target "$1"; then echo "$ASAN_OPTIONS:allocator_may_return_null=1"; else echo "$ASAN_OPTIONS"; fi
}
export -f hdf5_target malloc_limit_mb asan_options
run_one() {
  local t="$1"
  local work="$build/fuzz-work/$t" findings="$build/findings/$t"
  rm -rf "$work"
  mkdir -p "$work" "$findings"
  cp -r "tests/fuzz/corpus/$t/." "$work/"
  [[ -d "tests/fuzz/regressions/$t" ]] && cp -r "tests/fuzz/regressions/$t/." "$work/"
  echo "fuzz: $t for ${seconds}s"
  if ! ASAN_OPTIONS="$(asan_options "$t")" "$build/tests/fuzz/fuzz_$t" "$work" -max_total_time="$seconds" -timeout=10 \
      -rss_limit_mb=2048 -malloc_limit_mb="$(malloc_limit_mb "$t")" -max_len=65536 -print_final_stats=1 \
      -artifact_prefix="$findings/" > "$build/fuzz-work/$t.log" 2>&1; then
    tail -n 60 "$build/fuzz-work/$t.log"
    echo "fuzz: FINDING in $t; input saved under $findings/"
    return 1
  fi
  grep -E "^stat::number_of_executed_units|^stat::new_units_added" "$build/fuzz-work/$t.log" |
    sed "s/^/fuzz: $t /"
}
export -f run_one
export build seconds
status=0
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one "$@"' _ {} || status=1
[[ $status -eq 0 ]] && echo "fuzz: no findings in ${#targets[@]} targets x ${seconds}s"
exit $status
