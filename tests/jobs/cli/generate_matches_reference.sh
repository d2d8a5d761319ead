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

# Sampling flags out of range are refused up front, naming the flag.
err=$(mktemp)
work=$(mktemp -d)
trap 'rm -rf "$err" "$work"' EXIT
refused() {  # refused FLAG-TEXT-TO-FIND ARGS...
  local want="$1"
  shift
  if "$xomni" generate --model "$fixture" --prompt-ids "$prompt" "$@" 2> "$err" > /dev/null; then
    echo "xomni generate $* was accepted" >&2
    exit 1
  fi
  grep -q -- "$want" "$err" || { echo "xomni generate $*:" >&2; cat "$err" >&2; exit 1; }
}
refused "--top-p" --top-p 2
refused "--top-p" --top-p nan
refused "--top-p" --top-p 0
refused "--top-k" --top-k -1
refused "--top-k" --top-k 1.5
refused "--top-k: 1000 exceeds the vocabulary size 96" --top-k 1000
refused "--temperature" --temperature inf
refused "--temperature" --temperature -0.5
refused "--temperature" --temperature nan
refused "--steps" --steps -1
refused "--steps" --steps 288230376151711744  # 2^58
refused "--steps" --steps 1e3
refused "--steps 200 after a prompt of .* max_position_embeddings=128" --steps 200
refused "--seed" --seed -4
if "$xomni" generate --model "$fixture" --prompt-ids "1 96" 2> "$err" > /dev/null; then
  echo "a token id beyond the vocabulary was accepted" >&2
  exit 1
fi
grep -q -- "--prompt-ids: token id 96, outside the model's vocabulary" "$err" || { cat "$err" >&2; exit 1; }

# A checkpoint written by xomni convert generates what the Hugging Face folder does.
"$xomni" convert --from "$fixture" --to "$work/ckpt" > /dev/null
got=$("$xomni" generate --checkpoint "$work/ckpt/ckpt-00000000.h5" --prompt-ids "$prompt" --steps 32)
if [[ "$got" != "$expected" ]]; then
  echo "xomni generate --checkpoint (converted): expected '$expected' got '$got'" >&2
  exit 1
fi
# One converted from a bare .safetensors file has no config: the error says what to do.
"$xomni" convert --from "$fixture/model.safetensors" --to "$work/bare" > /dev/null
if "$xomni" generate --checkpoint "$work/bare/ckpt-00000000.h5" --prompt-ids "$prompt" 2> "$err"; then
  echo "a checkpoint without any config was accepted" >&2
  exit 1
fi
grep -q "bare/ckpt-00000000.h5: holds neither a job config" "$err" || { cat "$err" >&2; exit 1; }
echo "1 passed, 0 failed"
