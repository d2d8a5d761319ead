#!/usr/bin/env bash
# `xomni generate` (greedy, KV cache) reproduces PyTorch's 32 greedy tokens for the tiny Qwen2
# fixture, and reports a missing model folder as an error with a non-zero exit.
set -euo pipefail
xomni="$1"
fixture="$2"
prompt=$(sed -n 1p "$fixture/greedy.txt")
expected=$(sed -n 2p "$fixture/greedy.txt")
got=$("$xomni" generate --model "$fixture" --prompt-ids "$prompt" --steps 32)
if [[ "$got" != "$expected" ]]; then
  echo "xomni generate: expected '$expected' got '$got'" >&2
  exit 1
fi
if "$xomni" generate --model "$fixture/missing" --prompt-ids "$prompt" 2>/tmp/xomni_cli_err.$$; then
  echo "a missing model folder did not fail" >&2
  exit 1
fi
grep -q "missing/config.json" /tmp/xomni_cli_err.$$ || { cat /tmp/xomni_cli_err.$$ >&2; exit 1; }
rm -f /tmp/xomni_cli_err.$$
"$xomni" --help | grep -q generate
echo "1 passed, 0 failed"
