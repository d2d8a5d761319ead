#!/usr/bin/env bash
# The X-Omni commands on a real tiny chain trained here: the toy codec (siglip -> vq -> decoder),
# multimodal token shards (xomni data mm-tokenizer / mm-pack), a tiny xomni backbone trained on
# them for two steps, then `xomni generate --image-grid`, `xomni imagine` and `xomni ask`:
# exactly h*w codes in the image vocabulary, the same codes for the same seed and for one sample
# or a batch, a PNG of the decoded size, an answer, and clear refusals (an untrained grid, no
# decoder, a prompt beyond the context, a missing image, a text-only model).
# Skips (exit 77) while the xomni backbone plugin or `xomni data mm-pack` is not built.
set -euo pipefail
xomni="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
toy="$(cd "$(dirname "$0")" && pwd)/codec_toy"
plugins=$("$xomni" plugins 2> /dev/null || true)
if ! grep -Eq '^backbone +xomni ' <<< "$plugins"; then
  echo "SKIP: the xomni backbone plugin (libxomni_backbone_xomni.so) is not built"
  exit 77
fi
data_help=$("$xomni" data --help 2>&1 || true)
if ! grep -q "mm-pack" <<< "$data_help"; then
  echo "SKIP: xomni data mm-pack (multimodal token shards) is not built"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cd "$work"
# shellcheck source=toy_chain.sh
source "$toy/../toy_chain.sh"
build_xomni_toy_chain "$xomni" "$toy"

# generate --image-grid: h*w token ids in [V, V + 16), one line per sample; the same seed gives
# the same ids, and sample 0 of a batch is the one-sample run (rows are drawn independently).
"$xomni" generate --checkpoint "$ckpt" --tokenizer mm/tokenizer.json --prompt "a red cube" \
  --add-image-prefix --image-grid 2x2 --seed 7 --n 3 > gen.txt
[[ $(wc -l < gen.txt) -eq 3 ]] || fail "--n 3 printed: $(cat gen.txt)"
while read -r -a ids; do
  [[ ${#ids[@]} -eq 4 ]] || fail "a 2x2 grid gave ${#ids[@]} ids: ${ids[*]}"
  for id in "${ids[@]}"; do ((id >= V && id < V + 16)) || fail "id $id outside [$V, $((V + 16)))"; done
done < gen.txt
"$xomni" generate --checkpoint "$ckpt" --tokenizer mm/tokenizer.json --prompt "a red cube" \
  --add-image-prefix --image-grid 2x2 --seed 7 > gen1.txt
[[ "$(cat gen1.txt)" == "$(sed -n 1p gen.txt)" ]] || fail "seeded sample 0 differs: $(cat gen1.txt)"
"$xomni" generate --checkpoint "$ckpt" --tokenizer mm/tokenizer.json --prompt "a red cube" \
  --add-image-prefix --image-grid 2x2 --cfg 3 --temperature 0 > /dev/null || fail "--cfg 3"

# imagine: a PNG of the decoder's size (2x2 tokens of the toy's 8 pixels each) and the codes.
"$xomni" imagine --checkpoint "$ckpt" --prompt "a red cube" --seed 3 --out one.png > im.log
[[ -s one.png && -s one.json ]] || fail "imagine wrote $(ls)"
tr -d ' \n' < one.json | grep -Eq '"codes":\[\[[0-9]+,[0-9]+,[0-9]+,[0-9]+\]\]' ||
  fail "one.json: $(cat one.json)"
# imagine samples what generate does for the same prompt and seed (codes = ids - V).
"$xomni" generate --checkpoint "$ckpt" --tokenizer mm/tokenizer.json --prompt "a red cube" \
  --add-image-prefix --image-grid 2x2 --seed 3 > gen3.txt
read -r -a g3 < gen3.txt
want="[[$((g3[0] - V)),$((g3[1] - V)),$((g3[2] - V)),$((g3[3] - V))]]"
tr -d ' \n' < one.json | grep -qF "\"codes\":$want" || fail "imagine codes are not generate's $want: $(cat one.json)"
# From another folder: the job's relative [data] train is found through the run's layout.
(cd / && "$xomni" imagine --checkpoint "$ckpt" --prompt "a red cube" --seed 3 \
  --out "$work/again.png" > /dev/null) || fail "imagine from another folder"
cmp -s one.png again.png || fail "the same seed gave another image"
"$xomni" imagine --checkpoint "$ckpt" --prompt "a red cube" --n 4 --grid 2x2 --cfg 2 \
  --out grid.png > /dev/null
[[ -s grid.png ]] || fail "no grid.png"
tr -d ' \n' < grid.json | grep -Eq '"codes":\[(\[[0-9,]+\],){3}\[[0-9,]+\]\]' ||
  fail "grid.json: $(cat grid.json)"

# ask: an answer (greedy; any text a two-step model gives) and the caption form.
"$xomni" ask --checkpoint "$ckpt" --image one.png --question "What colour is the cube?" \
  --max-tokens 8 > ans.txt || fail "ask"
"$xomni" ask --checkpoint "$ckpt" --image one.png --caption --max-tokens 8 > cap.txt || fail "caption"
"$xomni" ask --checkpoint "$ckpt" --image one.png --caption --max-tokens 8 > cap2.txt
cmp -s cap.txt cap2.txt || fail "greedy captions differ"

# Refusals: one line naming what is wrong, exit status 1.
expect_error() {  # expect_error PATTERN command...
  local pattern=$1 status=0
  shift
  "$@" > /dev/null 2> err || status=$?
  [[ $status -eq 1 ]] || fail "$* exited with $status: $(cat err)"
  grep -q -- "$pattern" err || fail "$*: expected '$pattern', got: $(cat err)"
}
expect_error "the model was not trained for 3x3; trained grids: 2x2" \
  "$xomni" imagine --checkpoint "$ckpt" --prompt "x" --grid 3x3 --out bad.png
sed 's#"decoder": *"[^"]*"#"decoder": ""#' mm/multimodal.json > nodec.json
cp nodec.json mm_nodec.json
mkdir -p nodec && cp mm/tokenizer.json nodec/ && cp nodec.json nodec/multimodal.json
expect_error "no decoder: pass --decoder CKPT" \
  "$xomni" imagine --checkpoint "$ckpt" --prompt "x" --multimodal nodec --out bad.png
long=$(printf 'cube %.0s' $(seq 1 120))
expect_error "beyond the model's context (max_position_embeddings=96)" \
  "$xomni" imagine --checkpoint "$ckpt" --prompt "$long" --out bad.png
expect_error "--image missing.png does not exist" \
  "$xomni" ask --checkpoint "$ckpt" --image missing.png --caption
expect_error "give exactly one of --question TEXT and --caption" \
  "$xomni" ask --checkpoint "$ckpt" --image one.png
expect_error "--checkpoint nope.h5 does not exist" \
  "$xomni" imagine --checkpoint nope.h5 --prompt "x" --out bad.png
expect_error "the prompt must end with the image prefix" \
  "$xomni" generate --checkpoint "$ckpt" --tokenizer mm/tokenizer.json --prompt "a red cube" \
  --image-grid 2x2

# mm-eval: every one of the first 4 scenes generated and scored once, every question asked, and
# the same seed gives the same results.
"$xomni" mm-eval --checkpoint "$ckpt" --dataset scenes --count 4 --batch 3 --seed 2 \
  --out eval1 > eval1.log || { cat eval1.log; fail "mm-eval"; }
"$xomni" mm-eval --checkpoint "$ckpt" --dataset scenes --count 4 --batch 1 --seed 2 \
  --out eval2 > /dev/null || fail "mm-eval --batch 1"
[[ -s eval1/results.json && -s eval1/generations.png ]] || fail "mm-eval wrote $(ls eval1)"
python3 - eval1/results.json eval2/results.json <<'PY' || fail "mm-eval results"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["scenes"] == 4, a
assert sum(c["total"] for c in a["generation"]["by_category"].values()) == 4, a
assert 0 <= a["generation"]["overall"] <= 1, a
assert a["understanding"]["asked"] > 0, a
assert sum(t["total"] for t in a["understanding"]["by_type"].values()) == a["understanding"]["asked"]
assert a["generation"]["by_category"] == b["generation"]["by_category"], (a, b)
assert a["understanding"] == b["understanding"], (a, b)
PY
# Each scene's codes do not depend on the batch it was sampled in.
cmp -s eval1/generations.jsonl eval2/generations.jsonl ||
  fail "mm-eval codes depend on --batch: $(diff eval1/generations.jsonl eval2/generations.jsonl)"
[[ $(wc -l < eval1/generations.jsonl) -eq 4 ]] || fail "generations.jsonl: $(cat eval1/generations.jsonl)"
echo "1 passed, 0 failed"
