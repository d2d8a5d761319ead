#!/usr/bin/env bash
# `xomni eval` on a prompt file written here by hand (never by `xomni data prompts`) with the toy
# chain's tiny X-Omni model: three scene prompts, one text prompt (when the ocr reward is built),
# two VQA prompts (a world generator's image and a PNG file) and two malformed lines. Checks that
# the malformed lines are reported with their line numbers and the rest is scored, that every
# number in results.json agrees with samples.jsonl / understanding.jsonl recomputed in Python
# (pass rates, the seen/unseen split against an imported "training" dataset, OneIG's score from
# ED, CR and WAC, VQA exact match), the file's SHA-256, one entry per CFG scale, and that
# --batch 1 and --batch 3 give the same numbers, samples and images.
# Skips (exit 77) while the xomni backbone plugin or `xomni data mm-pack` is not built.
set -euo pipefail
xomni="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
toy="$(cd "$(dirname "$0")" && pwd)/codec_toy"
plugins=$("$xomni" plugins 2> /dev/null || true)
if ! grep -Eq '^backbone +xomni ' <<< "$plugins"; then
  echo "SKIP: the xomni backbone plugin (libxomni_backbone_xomni.so) is not built"
  exit 77
fi
if ! grep -q "mm-pack" <<< "$("$xomni" data --help 2>&1 || true)"; then
  echo "SKIP: xomni data mm-pack (multimodal token shards) is not built"
  exit 77
fi
have_ocr=0
grep -Eq '^reward +ocr ' <<< "$plugins" && have_ocr=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cd "$work"
# shellcheck source=toy_chain.sh
source "$toy/../toy_chain.sh"
build_xomni_toy_chain "$xomni" "$toy"

# The first and third scene prompts are the same text, so --batch 3 samples them in one batch
# (equal length) and --batch 1 apart: the same results show that nothing depends on the batch.
# A 12x12 PNG (a blue square on grey) for the VQA prompt that names a file, and a one-image
# "training set" whose caption is the second scene prompt's text.
mkdir -p img
python3 - img/q.png <<'PY'
import struct, sys, zlib
w = h = 12
px = lambda x, y: (40, 60, 200) if 3 <= x < 9 and 3 <= y < 9 else (128, 128, 128)
raw = b"".join(b"\0" + b"".join(bytes(px(x, y)) for x in range(w)) for y in range(h))
chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                              + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
PY
echo '{"file": "q.png", "caption": "two blue squares"}' > seen.jsonl
"$xomni" data import --images img --captions seen.jsonl --out seen > /dev/null

text_line='{"set": "signs", "task": "text", "category": "short", "prompt": "a sign that says \"OPEN\"", "metadata": {"text": "OPEN"}}'
((have_ocr)) || text_line=''
cat > mine.jsonl <<JSONL
{"set": "shapes", "task": "scene", "category": "colors", "prompt": "a red circle", "metadata": {"include": [{"class": "circle", "count": 1, "color": "red"}]}}
{"set": "shapes", "task": "scene", "category": "counting", "prompt": "two blue squares", "metadata": {"include": [{"class": "square", "count": 2, "color": "blue"}], "exclude": [{"class": "square", "count": 3}]}}
{"set": "shapes", "task": "scene", "category": "single_object", "prompt": "a red circle", "metadata": {"include": [{"class": "circle", "count": 1}]}}
{"set": "shapes", "task": "scene", "prompt": "broken
$text_line
{"task": "vqa", "category": "scene", "prompt": "How many circles are there?", "metadata": {"answer": "2", "image": {"generator": "scene", "seed": 7, "index": 3, "category": "counting", "size": [64, 64]}}}
{"task": "vqa", "category": "file", "prompt": "What colour is the square?", "metadata": {"answer": "blue", "image": {"path": "img/q.png"}}}
{"set": "shapes", "task": "scene", "category": "counting", "prompt": "three stars", "metadata": {"objects": []}}
JSONL

for b in 3 1; do
  "$xomni" eval --checkpoint "$ckpt" --prompts mine.jsonl --cfg 1,3 --batch $b --seed 4 \
    --seen seen --workers 1 --out "eval$b" > "eval$b.log" 2>&1 || { cat "eval$b.log"; fail "xomni eval --batch $b"; }
done
grep -q "mine.jsonl line 4: not valid JSON" eval3.log || fail "line 4 not reported: $(cat eval3.log)"
grep -q "mine.jsonl line 8: the scene metadata cannot be checked" eval3.log ||
  fail "line 8 not reported: $(cat eval3.log)"
grep -Eq '^shapes +scene +3 +3 +scene pass rate' eval3.log || fail "no table row: $(cat eval3.log)"

python3 - "$have_ocr" <<'PY' || fail "results.json"
import hashlib, json, os, re, sys
have_ocr = sys.argv[1] == "1"
r3, r1 = (json.load(open(f"eval{b}/results.json")) for b in (3, 1))
for key in ("checkpoint", "grid", "sampler", "prompt_files", "cfg", "generation", "understanding", "timing"):
    assert key in r3, key
assert r3["grid"] == [2, 2] and r3["cfg"] == [1, 3], r3
assert r3["sampler"] == {"temperature": 1, "min_p": 0.03, "top_p": 1, "seed": 4, "batch": 3,
                         "decoder_steps": 0}, r3["sampler"]
(f,) = r3["prompt_files"]
assert f["sha256"] == hashlib.sha256(open("mine.jsonl", "rb").read()).hexdigest(), f
assert f["lines"] == 7 + have_ocr and f["scored"] == 5 + have_ocr, f
assert [e["line"] for e in f["errors"]] == [4, 8], f
assert "not valid JSON" in f["errors"][0]["error"] and "include" in f["errors"][1]["error"], f
assert sorted(r3["generation"]) == ["1", "3"], r3["generation"].keys()

trim_lower = lambda s: s.strip().lower()
for g, res in r3["generation"].items():
    rows = [json.loads(l) for l in open(f"eval3/samples/cfg-{g}/samples.jsonl")]
    assert len(rows) == 3 + have_ocr, rows
    for row in rows:
        assert os.path.getsize(os.path.join("eval3", row["png"])) > 0, row
        assert row["png"] == f"samples/cfg-{g}/{row['set']}-{row['index']}.png", row
    scenes = [x for x in rows if x["task"] == "scene"]
    assert [x["seen"] for x in scenes] == [False, True, False], scenes
    assert [x["line"] for x in rows] == [1, 2, 3] + [5] * have_ocr, rows
    s = res["scene"]
    assert s["total"] == 3 and s["overall"] == sum(x["pass"] for x in scenes) / 3, (s, scenes)
    assert all(0 <= x["clean"] <= 1 for x in scenes), scenes
    assert abs(s["clean_mean"] - sum(x["clean"] for x in scenes) / 3) < 1e-12, (s, scenes)
    unseen = [x["pass"] for x in scenes if not x["seen"]]
    assert s["unseen_total"] == 2 and s["unseen_overall"] == sum(unseen) / 2, (s, scenes)
    for cat, c in s["by_category"].items():
        mine = [x["pass"] for x in scenes if x["category"] == cat]
        assert c["total"] == len(mine) and c["pass"] == sum(mine), (cat, c, scenes)
    assert sum(c["total"] for c in s["by_category"].values()) == 3, s
    assert res["image_tokens_per_s"] > 0 and res["decode_images_per_s"] > 0, res
    if have_ocr:
        (t,) = [x for x in rows if x["task"] == "text"]
        short = res["text"]["short"]
        assert short["total"] == 1 and "long" not in res["text"], res["text"]
        for k in ("ed", "cr", "wac"):
            assert abs(short[k] - t[k]) < 1e-6, (k, short, t)
        want = 1 - min(100, t["ed"]) * (1 - t["cr"]) * (1 - t["wac"]) / 100
        assert abs(short["oneig_score"] - want) < 1e-6, (short, want)
        assert t["cr"] == (1 if t["ed"] == 0 else 0), t
    else:
        assert "text" not in res, res

answers = [json.loads(l) for l in open("eval3/understanding.jsonl")]
v = r3["understanding"]["vqa"]
assert v["total"] == 2 == len(answers) and [a["line"] for a in answers] == [6, 7], (v, answers)
for a in answers:
    assert a["correct"] == (trim_lower(a["answer"]) == trim_lower(a["expected"])), a
assert v["accuracy"] == sum(a["correct"] for a in answers) / 2, (v, answers)
assert sum(c["total"] for c in v["by_type"].values()) == 2, v
assert sorted(v["by_type"]) == ["How many", "What colour"], v
assert v["by_set"]["mine"]["total"] == 2, v  # no "set": the file's name

# The batch size changes nothing but the timing.
strip = lambda res: {k: x for k, x in res.items() if not k.endswith("_per_s")}
for g in r3["generation"]:
    assert strip(r3["generation"][g]) == strip(r1["generation"][g]), g
assert r3["understanding"] == r1["understanding"]
PY
for g in 1 3; do
  cmp -s "eval3/samples/cfg-$g/samples.jsonl" "eval1/samples/cfg-$g/samples.jsonl" ||
    fail "samples depend on --batch at cfg $g"
  for png in "eval3/samples/cfg-$g"/*.png; do
    cmp -s "$png" "eval1/${png#eval3/}" || fail "$png depends on --batch"
  done
done

# --count 2: two good prompts spread over the file (the k-th at position k * good / 2), each
# scored once; no --seen: unseen_overall is the overall rate.
"$xomni" eval --checkpoint "$ckpt" --prompts mine.jsonl --count 2 --out count2 > count2.log 2>&1 ||
  { cat count2.log; fail "--count 2"; }
python3 - <<'PY' || fail "--count 2 results"
import json
good = [n for n, l in enumerate(open("mine.jsonl"), 1) if l.strip() and n not in (4, 8)]
want = [good[k * len(good) // 2] for k in range(2)]
r = json.load(open("count2/results.json"))
assert r["prompt_files"][0]["scored"] == 2 and r["cfg"] == [1], r
rows = [json.loads(l) for l in open("count2/samples/cfg-1/samples.jsonl")]
answers = [json.loads(l) for l in open("count2/understanding.jsonl")] if "understanding" in r else []
assert sorted(x["line"] for x in rows + answers) == want, (rows, answers, want)
s = r["generation"]["1"]["scene"]
assert s["unseen_total"] == s["total"] and s["unseen_overall"] == s["overall"], s
PY
# A model whose data also had wide images (a second grid, 1x4, in its multimodal.json): each
# prompt gets the trained grid nearest its image's aspect. Scenes and the square PNG stay on 2x2;
# a short text prompt (a 256x64 sign, aspect 4) and a VQA question about a 24x6 PNG take 1x4.
mkdir -p wide-data
cp mm/tokenizer.json wide-data/
python3 - mm/multimodal.json wide-data/multimodal.json <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["grids"] = [[2, 2], [1, 4]]
json.dump(m, open(sys.argv[2], "w"))
PY
python3 - img/wide.png <<'PY'
import struct, sys, zlib
w, h = 24, 6
px = lambda x, y: (200, 40, 40) if 2 <= x < 8 else (128, 128, 128)
raw = b"".join(b"\0" + b"".join(bytes(px(x, y)) for x in range(w)) for y in range(h))
chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                              + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
PY
{ grep -v broken mine.jsonl | grep -v '"objects": \[\]'
  echo '{"task": "vqa", "category": "file", "prompt": "What colour is the sign?", "metadata": {"answer": "red", "image": {"path": "img/wide.png"}}}'
} > wide.jsonl
"$xomni" eval --checkpoint "$ckpt" --multimodal wide-data/multimodal.json --prompts wide.jsonl --out wide \
  > wide.log 2>&1 || { cat wide.log; fail "xomni eval with two grids"; }
python3 - "$have_ocr" <<'PY' || fail "grids by aspect"
import json, sys
have_ocr = sys.argv[1] == "1"
r = json.load(open("wide/results.json"))
assert r["grid"] == [2, 2] and r["grids"] == [[2, 2], [1, 4]], r
rows = [json.loads(l) for l in open("wide/samples/cfg-1/samples.jsonl")]
assert [x["grid"] for x in rows if x["task"] == "scene"] == [[2, 2]] * 3, rows
assert [x["grid"] for x in rows if x["task"] == "text"] == [[1, 4]] * have_ocr, rows
answers = [json.loads(l) for l in open("wide/understanding.jsonl")]
assert [a["grid"] for a in answers] == [[2, 2], [2, 2], [1, 4]], answers
PY

status=0
"$xomni" eval --checkpoint "$ckpt" --prompts nope.jsonl --out bad > /dev/null 2> err || status=$?
if [[ $status -ne 1 ]] || ! grep -q "nope.jsonl is not a file" err; then
  fail "missing file: exit $status, $(cat err)"
fi
echo "1 passed, 0 failed"
