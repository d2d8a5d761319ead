#!/usr/bin/env bash
# `xomni train`: SIGTERM mid-run saves a checkpoint and exits with status 3; rerunning the same
# command resumes from it and finishes; a mistyped key fails naming the file, line and the
# nearest valid key.
set -euo pipefail
xomni="$1"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$xomni" prepare-text --input /usr/share/common-licenses/GPL-3 --out "$work/data" --vocab-size 300 > /dev/null
cat > "$work/job.toml" <<TOML
[run]
name = "sig"
dir = "$work/runs"
[model]
vocab_size = 300
hidden_size = 32
intermediate_size = 64
num_hidden_layers = 1
num_attention_heads = 2
num_key_value_heads = 1
[data]
train = "$work/data/train"
[train]
steps = 100000
batch_size = 2
seq_len = 32
log_every = 1000
TOML
"$xomni" train "$work/job.toml" > "$work/out1" 2>&1 &
pid=$!
for _ in $(seq 100); do  # wait until it is training
  [[ -s "$work/runs/sig/metrics.jsonl" ]] && break
  sleep 0.1
done
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
[[ $status -eq 3 ]] || { echo "expected exit status 3 after SIGTERM, got $status" >&2; cat "$work/out1" >&2; exit 1; }
ckpt=$(find "$work/runs/sig/checkpoints" -name 'ckpt-*.h5' | sort | tail -n 1)
[[ -n "$ckpt" ]] || { echo "no checkpoint after SIGTERM" >&2; exit 1; }
stopped_at=$(basename "$ckpt" .h5 | sed 's/ckpt-0*//')
target=$((stopped_at + 5))
"$xomni" train "$work/job.toml" --set "train.steps=$target" > "$work/out2" 2>&1
grep -q "resuming from .*step $stopped_at" "$work/out2" || { cat "$work/out2" >&2; exit 1; }
grep -q "$target steps" "$work/out2" || { cat "$work/out2" >&2; exit 1; }
# A mistyped key: the message names the file, the line and the nearest valid key.
sed 's/^batch_size/batch_sise/' "$work/job.toml" > "$work/bad.toml"
if "$xomni" train "$work/bad.toml" 2> "$work/err"; then
  echo "a mistyped key was accepted" >&2
  exit 1
fi
grep -q "bad.toml:[0-9]*:[0-9]*: unknown key 'train.batch_sise'; did you mean 'train.batch_size'" "$work/err" ||
  { cat "$work/err" >&2; exit 1; }
echo "1 passed, 0 failed"
