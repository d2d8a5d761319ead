#!/usr/bin/env bash
# `xomni report study` on hand-made run roots (report_study/make_fixture.py says which numbers they
# hold and what the claims must come out as): report.md's tables carry the fixture's numbers (one
# seed; two seeds as mean, min-max and each seed's value), the claims hold or not as the numbers
# imply, every plot is a PNG that decodes at the size the report states, report.html inlines every
# image, a missing eval-rl is "not run", and a malformed results.json fails naming the file.
# With --chromium it instead opens report.html in headless Chromium and checks that every image
# renders (exit 77, skipped, when chromium is not installed).
#   tests/jobs/cli/report_study.sh XOMNI [--chromium]
set -euo pipefail
xomni="$1"
here="$(cd "$(dirname "$0")" && pwd)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
has() {  # has FILE LINE: the file has exactly this line
  grep -qxF -- "$2" "$1" || fail "$1 lacks the line: $2"
}
/usr/bin/python3 "$here/report_study/make_fixture.py" "$work/one" one
/usr/bin/python3 "$here/report_study/make_fixture.py" "$work/two" two

if [[ "${2:-}" == "--chromium" ]]; then
  browser=$(command -v chromium || command -v chromium-browser || true)
  [[ -n "$browser" ]] || { echo "chromium is not installed (scripts/install_deps.sh): skipped"; exit 77; }
  "$xomni" report study "$work/two" --out "$work/out" > /dev/null
  html="$work/check.html"
  # After load: how many images decoded (naturalWidth > 0) of how many there are.
  sed 's#</body>#<script>window.addEventListener("load", () => { const i = [...document.images]; document.body.setAttribute("data-images", i.filter(x => x.complete \&\& x.naturalWidth > 0).length + "/" + i.length); });</script></body>#' \
    "$work/out/report.html" > "$html"
  want=$(grep -o '<img ' "$html" | wc -l)
  ((want >= 8)) || fail "report.html has only $want images"
  dom=$(timeout 120 "$browser" --headless --disable-gpu --no-sandbox --no-first-run \
    --user-data-dir="$work/profile" --virtual-time-budget=10000 --dump-dom "file://$html" 2> "$work/chromium.err") ||
    fail "chromium failed: $(tail -5 "$work/chromium.err")"
  grep -qF "data-images=\"$want/$want\"" <<< "$dom" ||
    fail "not every image rendered: $(grep -o 'data-images="[^"]*"' <<< "$dom" || echo 'no count written')"
  echo "ok: report study renders in chromium ($want of $want images)"
  exit 0
fi

# One seed.
"$xomni" report study "$work/one" > "$work/stdout" || fail "report study failed"
mv "$work/one/report" "$work/out1"  # the default --out
md="$work/out1/report.md"
for claim in "claim 1: holds" "claim 2: holds" "claim 3: does not hold" "claim 4: holds"; do
  has "$work/stdout" "$claim"
done
grep -q '^| 1\. The RL reward .* | \*\*holds\*\* | RL reward, mean of the last tenth of the steps: 0.390; SFT best-of-4: 0.300\. .*first passes it: step 16\. |$' "$md" ||
  fail "claim 1 row"
grep -q '^| 3\. RL improves text rendering.* | \*\*does not hold\*\* | at CFG 1: OneIG text score SFT 0.400, RL 0.450; LongText accuracy SFT 0.300, RL 0.250\. |$' "$md" ||
  fail "claim 3 row"
grep -q '^| 4\. .* | \*\*holds\*\* | RL scene overall at CFG 1: 0.620 (unseen prompts: 0.500); VQA accuracy SFT 0.700, RL 0.690, a difference of -1.0 points\.' "$md" ||
  fail "claim 4 row"
has "$md" "| 1 | overall | not run | 0.250 | 0.620 |"
has "$md" "| 3 | overall | not run | 0.500 | 0.630 |"
has "$md" "| 1 | unseen prompts: overall | not run | 0.200 | 0.500 |"
has "$md" "| 1 | single_object | not run | 0.250 | 0.750 |"
has "$md" "| 1 | image free of unasked-for colour (clean share, mean) | not run | 0.800 | 0.300 |"
# RL's clean share 0.5 below SFT's: the report warns of a likely exploit.
grep -qF "**Warning: RL's images are less clean than SFT's** (clean share at CFG 1: RL 0.300 against SFT 0.800" "$md" ||
  fail "no exploit warning"
# RL's 0.3 is below 0.5: its images are mostly clutter; SFT's 0.8 is not.
grep -qF "**Warning: RL's scene images are mostly clutter** (clean share at CFG 1: 0.300, below 0.50)" "$md" ||
  fail "no clutter warning for RL"
if grep -qF "**Warning: SFT's scene images are mostly clutter**" "$md"; then fail "a clutter warning for SFT"; fi
has "$md" "| 1 | LongText accuracy | not run | 0.300 | 0.250 |"
has "$md" "| accuracy | all | not run | 0.700 | 0.690 |"
has "$md" "| reward | 0.030 | 0.390 |"
has "$md" "| SFT best-of-4 (mean best reward) | 0.300 |"
has "$md" "| sft | 5 | 0.7500 | 1.2500 |"
has "$md" "| sft | train | done | 20.5 |"
has "$md" "| all stages |  |  | 85.0 |"
has "$md" "| rl | group_size | 4 |"
# Settings in pipeline order (sft before rl), not sorted by name.
grep -n '^| \(sft\|rl\) |' "$md" | tail -4 | cut -d'|' -f2 | tr -d ' ' | tr '\n' ' ' | grep -qx "sft sft rl rl " ||
  fail "settings not in pipeline order"
has "$md" "Not run: eval-s2."
has "$md" "| decoder sampler steps | 16 |"
has "$md" "| PSNR of the reconstructions (dB) | 21.50 |"
has "$md" "| scene checker on the reconstructions, pass rate | 0.250 |"
has "$md" "| scene checker on the reconstructions: single_object | 0.400 |"
has "$md" "| scene checker on the reconstructions: two_object | 0.100 |"
has "$md" "| codes used (fraction of the codebook) | 0.809 |"
has "$md" "| single codes: colour, probe | 0.637 |"
has "$md" "| single codes: shape, majority guess | 0.435 |"
has "$md" "| text images | 64 |"
has "$md" "| text images: PSNR of the reconstructions (dB) | 16.25 |"
has "$md" "| text images: OCR word accuracy, originals | 0.950 |"
has "$md" "| text images: OCR word accuracy, reconstructions | 0.125 |"

# Every picture the report names decodes and has the size it states; report.html inlines them all.
check_pictures() {  # check_pictures OUT_DIR EXPECTED_COUNT
  /usr/bin/python3 - "$1" "$2" <<'PY' || fail "pictures in $1"
import re, struct, sys, zlib, base64
out, want = sys.argv[1], int(sys.argv[2])
md = open(out + "/report.md").read()
pics = re.findall(r"!\[[^\]]*\((\d+) x (\d+) px\)\]\((plots/[a-z_]+\.png)\)", md)
assert len(pics) == want, (len(pics), want)
def decode(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "signature"
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        assert zlib.crc32(kind + body) == struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0], kind
        if kind == b"IHDR": ihdr = struct.unpack(">IIBB", body[:10])
        if kind == b"IDAT": idat += body
        pos += 12 + n
    w, h, depth, colour = ihdr
    bpp = {2: 3, 6: 4}[colour]
    assert depth == 8 and len(zlib.decompress(idat)) == h * (1 + w * bpp)
    return w, h
for w, h, path in pics:
    assert decode(open(out + "/" + path, "rb").read()) == (int(w), int(h)), path
html = open(out + "/report.html").read()
srcs = re.findall(r'src="([^"]*)"', html)
assert len(srcs) == want and len(re.findall(r"<img ", html)) == want, (len(srcs), want)
assert all(s.startswith("data:image/png;base64,") for s in srcs), "an image is not inlined"
inlined = sorted(base64.b64decode(s.split(",", 1)[1]) for s in srcs)
assert inlined == sorted(open(out + "/" + p, "rb").read() for _, _, p in pics), "inlined bytes differ"
assert not re.search(r'(href|src)="(?!data:)', html), "a link to another file"
print(f"{want} pictures decode at their stated sizes and are inlined")
PY
}
check_pictures "$work/out1" 8
pixels() { /usr/bin/python3 "$here/report_study/png_pixels.py" "$@"; }
# RL's bars (the second palette colour, 0xd95f02) fill much more than the legend's 14x14 swatch;
# the SFT best-of-4 level (fifth series, 0x9467bd) is drawn across the reward panel.
rl_bars=$(pixels "$work/out1/plots/geneval.png" d95f02)
((rl_bars > 5000)) || fail "geneval.png: only $rl_bars pixels of RL's colour"
level=$(pixels "$work/out1/plots/rl_reward.png" 9467bd)
((level > 196 + 150)) || fail "rl_reward.png: only $level pixels of the best-of-4 line's colour"

# Two seeds: mean (min-max) [per seed]; seed-1's RL overall 0.42 pulls the mean below 0.60.
"$xomni" report study "$work/two" --out "$work/out2" > "$work/stdout2" || fail "two seeds failed"
md2="$work/out2/report.md"
has "$md2" "| 1 | overall | not run | 0.250 (0.250-0.250) [0.250 / 0.250] | 0.520 (0.420-0.620) [0.620 / 0.420] |"
has "$md2" "| sft | train | done | 25.5 (20.5-30.5) [20.5 / 30.5] |"
has "$md2" "| PSNR of the reconstructions (dB) | 21.00 (20.50-21.50) [21.50 / 20.50] |"
# seed-0's RL images are cluttered (0.300), seed-1's are not (0.800): the mean (0.550) would hide
# it, the warning names the seed.
grep -qF "**Warning: RL's scene images are mostly clutter** (clean share at CFG 1: 0.300 in seed-0, below 0.50)" "$md2" ||
  fail "no per-seed clutter warning: $(grep -F Warning "$md2")"
has "$work/stdout2" "claim 4: does not hold"
has "$work/stdout2" "claim 1: holds"
grep -q '^| 4\. .* | \*\*does not hold\*\* | RL scene overall at CFG 1: 0.520 (0.420-0.620) \[per seed: seed-0 0.620, seed-1 0.420\]' "$md2" ||
  fail "two-seed claim 4 row"
grep -qF "min-max range" "$md2" || fail "the report does not say which range it shows"
check_pictures "$work/out2" 8

# No eval-rl and no codec-eval: "not run" in their place, the rest still there.
rm -rf "$work/one/eval-rl" "$work/one/codec-eval"
"$xomni" report study "$work/one" --out "$work/out3" > "$work/stdout3" || fail "missing eval-rl failed"
has "$work/out3/report.md" "Not run: eval-s2, eval-rl."
has "$work/out3/report.md" "| 1 | overall | not run | 0.250 | not run |"
has "$work/out3/report.md" "codec-eval: not run."
! grep -qF "Warning: RL's images" "$work/out3/report.md" || fail "an exploit warning without RL results"
has "$work/stdout3" "claim 2: not measured"
has "$work/stdout3" "claim 4: not measured"
has "$work/stdout3" "claim 1: holds"
check_pictures "$work/out3" 8
rl_bars=$(pixels "$work/out3/plots/geneval.png" d95f02)
((rl_bars <= 196)) || fail "geneval.png without eval-rl: $rl_bars pixels of RL's colour (legend: 196)"

# A malformed results.json stops the report, naming the file; so does a wrong type.
echo '{"generation": ' > "$work/one/eval-sft/results.json"
if err=$("$xomni" report study "$work/one" --out "$work/out4" 2>&1); then fail "malformed accepted"; fi
grep -qF "$work/one/eval-sft/results.json is not valid JSON" <<< "$err" || fail "$err"
echo '{"generation": {"1": {"scene": {"overall": "high"}}}}' > "$work/one/eval-sft/results.json"
if err=$("$xomni" report study "$work/one" --out "$work/out4" 2>&1); then fail "a string overall accepted"; fi
grep -qF "$work/one/eval-sft/results.json: generation.1.scene.overall is not a number" <<< "$err" || fail "$err"
if err=$("$xomni" report study "$work/none" --out "$work/out4" 2>&1); then fail "no root accepted"; fi
grep -qF "$work/none is not a folder" <<< "$err" || fail "$err"
echo "ok: report study"
