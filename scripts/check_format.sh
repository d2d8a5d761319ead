#!/usr/bin/env bash
# Fails when a C/C++ source file differs from what clang-format (.clang-format) makes of it.
#   scripts/check_format.sh          check;   scripts/check_format.sh --fix   rewrite in place
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.c' '*.h' '*.cpp' '*.hpp' '*.cu' '*.cuh' | grep -v node_modules)
if [[ "${1:-}" == "--fix" ]]; then
  clang-format -i "${files[@]}"
else
  clang-format --dry-run --Werror "${files[@]}"
  echo "format: ${#files[@]} files as clang-format makes them"
fi
