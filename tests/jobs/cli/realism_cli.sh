#!/usr/bin/env bash
# The realism reward from the command line on a toy codec trained here (siglip -> vq -> decoder,
# two steps each): `xomni data realism` writes the labelled splits (clean and corrupted renderings
# in pairs, and the held-out images' own pixels against the same corrupted renderings), the same
# command writes the same bytes, `xomni train` runs the realism stage on them, `xomni data
# realism-eval` and `xomni reward score` (the plugin, by name) read its checkpoint, and bad inputs
# are refused naming what is wrong.
set -euo pipefail
xomni="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
toy="$(cd "$(dirname "$0")" && pwd)/codec_toy"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cd "$work"
# shellcheck source=toy_chain.sh
source "$toy/../toy_chain.sh"
build_toy_codec "$xomni" "$toy"

make_data() {  # make_data OUT
  "$xomni" data realism --decoder $dec --tokenizer $tok --images scenes --count 6 --heldout 2 \
    --size 16 --steps 1 --batch 4 --seed 3 --out "$1" 2> /dev/null
}
make_data data > data.log
grep -q '^data: 6 training pairs, 2 held-out pairs (16 decoded images)' data.log ||
  fail "data realism: $(cat data.log)"
for split in train:12 heldout:4 heldout_real:4; do
  grep -q "\"num_samples\": ${split#*:}" "data/${split%%:*}/manifest.json" ||
    fail "${split%%:*}: $(cat "data/${split%%:*}/manifest.json")"
done
make_data again > /dev/null
cmp -s data/train/shard-00000.h5 again/train/shard-00000.h5 || fail "data realism is not seeded"

cat > realism.toml <<'TOML'
[run]
stage = "realism"
name = "realism"
dir = "runs"
seed = 1
[model]
image_size = 8
channels = 4
levels = 2
groups = 2
[data]
train = "data/train"
valid = "data/heldout"
eval_batches = 1
prefetch = 0
[train]
steps = 4
batch_size = 4
log_every = 1
checkpoint_every = 4
TOML
"$xomni" train realism.toml > train.log 2>&1 || { cat train.log; fail "training realism"; }
grep -q '"heldout_accuracy": ' runs/realism/metrics.jsonl || fail "no held-out accuracy logged"
ckpt=runs/realism/checkpoints/ckpt-00000004.h5
"$xomni" data realism-eval --checkpoint $ckpt data/heldout_real > eval.log
grep -q '^real  *2 samples' eval.log || fail "realism-eval: $(cat eval.log)"
grep -q '^corrupted  *2 samples' eval.log || fail "realism-eval: $(cat eval.log)"

cat > rewards.toml <<TOML
[[rewards]]
plugin = "realism"
weight = 1.0
config = "checkpoint = $work/$ckpt"
TOML
{ printf 'P6\n16 16\n255\n'; head -c 768 /dev/urandom; } > a.ppm
"$xomni" reward score rewards.toml --image a.ppm --prompt "anything" > score.log ||
  fail "reward score: $(cat score.log)"
grep -q 'realism.logit' score.log || fail "reward score: $(cat score.log)"

expect_error() {  # expect_error PATTERN command...
  local pattern=$1 status=0
  shift
  "$@" > /dev/null 2> err || status=$?
  [[ $status -eq 1 ]] || fail "$* exited with $status"
  grep -q -- "$pattern" err || fail "$*: expected '$pattern', got: $(cat err)"
}
expect_error "holds 16 images, fewer than --count 20 + --heldout 5" \
  "$xomni" data realism --decoder $dec --tokenizer $tok --images scenes --count 20 --out x
expect_error "a checkpoint of the vq stage, not of the realism scorer" \
  "$xomni" data realism-eval --checkpoint $tok data/heldout
expect_error "sample kind \"scene\" has no realism label" \
  "$xomni" data realism-eval --checkpoint $ckpt scenes
echo "realism cli: ok"
