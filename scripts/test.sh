#!/usr/bin/env bash
# Builds xomni and runs its test suite.
#   scripts/test.sh            default preset: every test (unit, golden, train)
#   scripts/test.sh asan       ASan+UBSan preset: the unit tests
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-default}"
scripts/install_deps.sh
scripts/fetch_tokenizer_fixtures.sh
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
# Sanitizer runtimes: fail on the first report, and OpenMP's own allocations are not ours.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# Third-party caches that live until exit (fontconfig, Tesseract) are not leaks of ours.
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}"
ctest --preset "$preset"
