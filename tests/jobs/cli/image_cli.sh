#!/usr/bin/env bash
# `xomni image` on a toy codec trained here (siglip -> vq -> decoder, two steps each): encode is
# deterministic and gives the grid the image's size implies, decode and reconstruct write PNGs,
# tokenize-shards writes a token dataset, eval writes its measures (code_information's patch
# counts), and bad inputs are refused naming the file and the reason (an image smaller than a
# patch, a side the patch does not divide, ids outside the codebook, a checkpoint of the wrong
# stage).
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

# A binary PPM of W x H random pixels.
ppm() { { printf 'P6\n%d %d\n255\n' "$1" "$2"; head -c $(($1 * $2 * 3)) /dev/urandom; } > "$3"; }
ppm 16 16 a.ppm
ppm 32 16 wide.ppm
"$xomni" image encode --tokenizer $tok a.ppm wide.ppm > ids.txt
"$xomni" image encode --tokenizer $tok a.ppm wide.ppm > ids2.txt
cmp -s ids.txt ids2.txt || fail "encode is not deterministic"
read -r -a first < <(sed -n 1p ids.txt)
read -r -a second < <(sed -n 2p ids.txt)
[[ "${first[0]} ${first[1]} ${#first[@]}" == "2 2 6" ]] || fail "16x16 -> ${first[*]}"
[[ "${second[0]} ${second[1]} ${#second[@]}" == "2 4 10" ]] || fail "32x16 -> ${second[*]}"
for id in "${first[@]:2}" "${second[@]:2}"; do
  ((id >= 0 && id < 16)) || fail "id $id outside the 16-code book"
done
# --size resizes (short edge), keeping the aspect: 32x16 -> 48x24? no: short edge 24 is not a
# multiple of 8, refused; 32 -> 64x32 -> a 4x8 grid.
"$xomni" image encode --tokenizer $tok --size 32 wide.ppm | awk '{exit !($1 == 4 && $2 == 8)}' ||
  fail "--size 32 did not give a 4x8 grid"

"$xomni" image decode --decoder $dec --out decoded ids.txt > /dev/null
[[ -s decoded/00000.png && -s decoded/00001.png ]] || fail "decode wrote $(ls decoded)"
"$xomni" image reconstruct --decoder $dec --dataset scenes --count 3 --size 16 --out grid.png > rec.log
grep -Eq '^3 images -> grid.png .*PSNR [0-9.]+ dB' rec.log || fail "reconstruct: $(cat rec.log)"
[[ -s grid.png ]] || fail "no grid.png"
"$xomni" image tokenize-shards --tokenizer $tok --size 16 --out tokens scenes > tok.log 2> /dev/null
grep -q '^16 images -> tokens (ids 0..15)' tok.log || fail "tokenize-shards: $(cat tok.log)"
grep -q '"vocab_size": 16' tokens/manifest.json || fail "manifest: $(cat tokens/manifest.json)"

# eval: the held-out measures on 6 of the 32x32 scenes (a 4x4 grid each); every patch is labelled
# for code_information (96 of them) and the probe accuracies are fractions.
"$xomni" image eval --tokenizer $tok --decoder $dec --dataset scenes --out ev --count 6 \
  --retrieval 6 --steps 1 --no-ocr > ev.log
python3 - ev/results.json <<'PY' || fail "eval: $(cat ev/results.json)"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["samples"] == 6 and r["scene_checker"]["scenes"] == 6, r
# Per category: the counts add up, and every codec input (a clean render at its own size) passes
# the checker, so the control rate is exactly 1.
chk = r["scene_checker"]
by = chk["by_category"]
assert sum(c["scenes"] for c in by.values()) == 6, chk
assert sum(c["pass"] for c in by.values()) == chk["pass"], chk
assert chk["input_pass_rate"] == 1 and all(c["input_pass_rate"] == 1 for c in by.values()), chk
for c in by.values():
    assert c["pass_rate"] == c["pass"] / c["scenes"], c
info = r["code_information"]
assert info["object"]["patches"] == 96, info
assert info["colour"]["patches"] <= 96 and info["shape"]["patches"] <= info["colour"]["patches"], info
for a in ("object", "colour", "shape"):
    s = info[a]
    assert 0 <= s["conditional_entropy_bits"] <= s["entropy_bits"] + 1e-12, (a, s)
    assert 0 <= s["probe_accuracy"] <= 1 and 0 <= s["majority_accuracy"] <= 1, (a, s)
    assert 1 <= s["codes"] <= 16 or s["patches"] == 0, (a, s)
PY

# Bad inputs: one line naming the file and what is wrong, exit status 1.
expect_error() {  # expect_error PATTERN command...
  local pattern=$1 status=0
  shift
  "$@" > /dev/null 2> err || status=$?
  [[ $status -eq 1 ]] || fail "$* exited with $status"
  grep -q -- "$pattern" err || fail "$*: expected '$pattern', got: $(cat err)"
}
ppm 4 4 tiny.ppm
expect_error "tiny.ppm: the image is 4x4, smaller than one 8x8 patch" \
  "$xomni" image encode --tokenizer $tok tiny.ppm
ppm 12 16 odd.ppm
expect_error "odd.ppm: the image is 12x16 and the tokenizer's patch 8 does not divide both sides" \
  "$xomni" image encode --tokenizer $tok odd.ppm
printf '2 2 0 1 2 99\n' > bad_ids.txt
expect_error "bad_ids.txt: image 1, code 4: id 99 is outside the tokenizer's codebook \[0, 16)" \
  "$xomni" image decode --decoder $dec --out out bad_ids.txt
printf '2 2 0 1 2\n' > short_ids.txt
expect_error "short_ids.txt:1: the grid is 2x2 = 4 codes but the line has 3" \
  "$xomni" image decode --decoder $dec --out out short_ids.txt
expect_error "a checkpoint of the vq stage; a decoder comes from the decoder stage's" \
  "$xomni" image reconstruct --decoder $tok --dataset scenes --out g.png
echo "image_cli: ok"
