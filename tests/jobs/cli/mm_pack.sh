#!/usr/bin/env bash
# `xomni data mm-tokenizer` and `xomni data mm-pack` end to end: a tokenizer with the multimodal
# special tokens learnt from a synthetic dataset, a toy vq tokenizer trained here (two steps),
# scenes (2x2 grids) and text images (2x8) packed as a mixture, the summary and multimodal.json,
# the text kind with an extra text file, and refusals (a tokenizer without <SOM>/<EOM>/<IMAGE>,
# a non-empty output folder, a missing image tokenizer).
set -euo pipefail
xomni="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
toy="$(cd "$(dirname "$0")" && pwd)/codec_toy"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cd "$work"
cat > synth.toml <<'TOML'
[synth]
seed = 4
out = "scenes"
samples_per_shard = 8
scenes = 6
text_short = 0
text_long = 0
image_size = 32
TOML
"$xomni" data synth synth.toml > /dev/null
sed -e 's/"scenes"/"texts"/; s/scenes = 6/scenes = 0/; s/text_short = 0/text_short = 2/' synth.toml \
  > texts.toml
"$xomni" data synth texts.toml > /dev/null
cp "$toy/vq.toml" .
"$xomni" train vq.toml --set 'tokenizer.checkpoint=""' --set vq.train_encoder=true \
  > vq.log 2>&1 || { cat vq.log; fail "training the toy vq tokenizer"; }
vq=runs/vq/checkpoints/ckpt-00000002.h5

"$xomni" data mm-tokenizer --images scenes --images texts --vocab-size 400 --out tokenizer.json > tok.log
grep -Eq '^tokenizer.json: [0-9]+ entries from [0-9]+ texts; <\|endoftext\|> [0-9]+, <SOM> [0-9]+' \
  tok.log || fail "mm-tokenizer: $(cat tok.log)"
# The trainer puts the four special tokens last, in this order.
read -r V < <(sed -E 's/^tokenizer.json: ([0-9]+) entries.*/\1/' tok.log)
grep -q "<|endoftext|> $((V - 4)), <SOM> $((V - 3)), <EOM> $((V - 2)), <IMAGE> $((V - 1))" tok.log ||
  fail "special ids: $(cat tok.log)"

"$xomni" data mm-pack --tokenizer tokenizer.json --image-tokenizer $vq --images scenes \
  --images texts --kind mixture --size 16 --seed 1 --out mm > pack.log 2> /dev/null
grep -Eq "^mm: 8 images -> 8 generation, [0-9]+ understanding, 0 text documents; [0-9]+ tokens, [0-9]+ supervised; vocabulary $((V + 16)) \(text $V \+ image 16\)" \
  pack.log || fail "mm-pack summary: $(cat pack.log)"
grep -q '^grids: 2x2 (6 images) 2x8 (2 images)' pack.log || fail "grids: $(cat pack.log)"
tr -d ' \n' < mm/multimodal.json > mm.json
for want in '"format":"xomni-multimodal"' '"format_version":1' '"text_tokenizer":"tokenizer.json"' \
  "\"text_vocab_size\":$V" '"image_vocab_size":16' "\"image_tokenizer\":\"$work/$vq\"" \
  '"decoder":""' '"grids":[[2,2],[2,8]]' \
  "\"special_tokens\":{\"eom\":$((V - 2)),\"eos\":$((V - 4)),\"image\":$((V - 1)),\"som\":$((V - 3))}"; do
  grep -qF -- "$want" mm.json || fail "multimodal.json lacks $want: $(cat mm/multimodal.json)"
done
# The grids of multimodal.json, most common first (generation's default), equals in the order of
# the --images datasets (not by size: 2x8 sorts before 2x2).
expect_grids() {  # expect_grids OUT GRIDS_JSON DATASET...
  local out=$1 want=$2
  shift 2
  local images=()
  for d in "$@"; do images+=(--images "$d"); done
  "$xomni" data mm-pack --tokenizer tokenizer.json --image-tokenizer $vq "${images[@]}" \
    --kind generation --size 16 --out "$out" > /dev/null 2>&1
  tr -d ' \n' < "$out/multimodal.json" | grep -qF "\"grids\":$want" ||
    fail "$*: expected grids $want: $(cat "$out/multimodal.json")"
}
sed -e 's/text_short = 2/text_short = 8/; s/"texts"/"texts8"/' texts.toml > texts8.toml
sed -e 's/scenes = 6/scenes = 8/; s/"scenes"/"scenes8"/' synth.toml > scenes8.toml
"$xomni" data synth texts8.toml > /dev/null
"$xomni" data synth scenes8.toml > /dev/null
expect_grids mm8 '[[2,8],[2,2]]' scenes texts8   # 8 signs beside 6 scenes
expect_grids mm88 '[[2,2],[2,8]]' scenes8 texts8 # as many of each: the first dataset's
grep -q '"has_loss_mask": true' mm/manifest.json || fail "manifest: $(cat mm/manifest.json)"
grep -q "\"vocab_size\": $((V + 16))" mm/manifest.json || fail "manifest: $(cat mm/manifest.json)"
cmp -s tokenizer.json mm/tokenizer.json || fail "tokenizer.json is not a copy"

# The text kind: captions, questions + answers and the paragraphs of a file, text ids only.
printf 'one paragraph\n\nanother one\n' > extra.txt
"$xomni" data mm-pack --tokenizer tokenizer.json --images scenes --input extra.txt --kind text \
  --out text > text.log
grep -Eq "^text: 0 images -> 0 generation, 0 understanding, [0-9]+ text documents; ([0-9]+) tokens, \1 supervised; vocabulary $V " \
  text.log || fail "text kind: $(cat text.log)"

# Refusals: one line naming what is wrong, exit status 1.
expect_error() {  # expect_error PATTERN command...
  local pattern=$1 status=0
  shift
  "$@" > /dev/null 2> err || status=$?
  [[ $status -eq 1 ]] || fail "$* exited with $status"
  grep -q -- "$pattern" err || fail "$*: expected '$pattern', got: $(cat err)"
}
expect_error "mm is not empty; give --overwrite" "$xomni" data mm-pack --tokenizer tokenizer.json \
  --image-tokenizer $vq --images scenes --size 16 --out mm
"$xomni" data mm-pack --tokenizer tokenizer.json --image-tokenizer $vq --images scenes \
  --kind generation --size 16 --out mm --overwrite > over.log 2> /dev/null
grep -q '^mm: 6 images -> 6 generation, 0 understanding' over.log || fail "$(cat over.log)"
"$xomni" prepare-text --input extra.txt --vocab-size 270 --valid-every 0 --out plain > /dev/null
expect_error "has no special token <SOM>, <EOM>, <IMAGE>" "$xomni" data mm-pack \
  --tokenizer plain/tokenizer.json --image-tokenizer $vq --images scenes --size 16 --out bad
expect_error "image-tokenizer CHECKPOINT is required for --kind mixture" "$xomni" data mm-pack \
  --tokenizer tokenizer.json --images scenes --out bad
[[ ! -e bad ]] || fail "a refused mm-pack left bad/ behind"
echo "mm_pack.sh: ok"
