#!/usr/bin/env bash
# `xomni data import`: PNG files written here with Python's standard library (zlib + struct) and a
# small baseline JPEG (24x16, solid rgb(200, 100, 50), encoded once with libjpeg at quality 90 and
# embedded below) become image shards that h5py reads back: sizes follow the fit rules, a solid
# image stays solid, metadata and captions are kept. Bad lines and missing files fail, naming
# the line, and leave no manifest. Exit 77 (skipped) when h5py is missing.
set -euo pipefail
xomni="$1"
/usr/bin/python3 -c 'import h5py, numpy' 2>/dev/null || { echo "h5py/numpy missing: skipped"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/img"
jpeg_b64='/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAMCAgMCAgMDAwMEAwMEBQgFBQQEBQoHBwYIDAoMDAsKCwsNDhIQDQ4RDgsLEBYQERMUFRUVDA8XGBYUGBIUFRT/2wBDAQMEBAUEBQkFBQkUDQsNFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBT/wAARCAAQABgDASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwCpRRRX4ef0gFFFFAH/2Q=='
/usr/bin/python3 - "$work/img" "$jpeg_b64" <<'PY'
import base64, struct, sys, zlib
d = sys.argv[1]
def png(path, w, h, pixel):
    raw = b"".join(b"\0" + b"".join(bytes(pixel(x, y)) for x in range(w)) for y in range(h))
    def chunk(t, data):
        return struct.pack(">I", len(data)) + t + data + struct.pack(">I", zlib.crc32(t + data))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
png(d + "/a.png", 40, 20, lambda x, y: (10, 20, 30))
png(d + "/b.png", 10, 30, lambda x, y: (x * 20, y * 8, 7))
open(d + "/c.jpg", "wb").write(base64.b64decode(sys.argv[2]))
PY
cat > "$work/captions.jsonl" <<'J'
{"file": "a.png", "caption": "a dark blue rectangle"}

{"file": "b.png", "captions": ["a gradient", "a tall gradient, red to the right"]}
{"file": "c.jpg", "caption": "an orange \u00fc block"}
J
"$xomni" data import --images "$work/img" --captions "$work/captions.jsonl" --out "$work/fit" \
  --short-edge 8 --max-long-edge 12 --samples-per-shard 2 | grep -q "imported 3 images"
"$xomni" data import --images "$work/img" --captions "$work/captions.jsonl" --out "$work/orig"
/usr/bin/python3 - "$work" <<'PY'
import json, sys
import h5py, numpy as np
w = sys.argv[1]
def samples(d):
    m = json.load(open(d + "/manifest.json"))
    assert m["format"] == "xomni-image-shards", m
    out = []
    for s in m["shards"]:
        with h5py.File(d + "/" + s["file"], "r") as f:
            off, sizes = f["offsets"][()], f["sizes"][()]
            for j in range(s["num_samples"]):
                h, wd = (int(v) for v in sizes[j])
                out.append((f["pixels"][off[j]:off[j + 1]].reshape(h, wd, 3), f["kind"].asstr()[j],
                            json.loads(f["metadata"].asstr()[j]), json.loads(f["captions"].asstr()[j])))
    assert len(out) == m["num_samples"] == 3, m
    return out
fit = samples(w + "/fit")
assert len(json.load(open(w + "/fit/manifest.json"))["shards"]) == 2
# 40x20 -> short 8 makes long 16 > 12, so 12 x round(20*12/40) = 12x6; 10x30 -> 4x12; 24x16 -> 12x8.
assert [s[0].shape[:2] for s in fit] == [(6, 12), (12, 4), (8, 12)], [s[0].shape for s in fit]
assert (fit[0][0] == np.array([10, 20, 30], np.uint8)).all()
assert np.abs(fit[2][0].astype(int) - [200, 100, 50]).max() <= 4, fit[2][0][0, 0]
assert [s[1] for s in fit] == ["imported"] * 3
assert fit[1][2] == {"source": "b.png", "original_size": [10, 30]}, fit[1][2]
assert fit[2][2] == {"source": "c.jpg", "original_size": [24, 16]}, fit[2][2]
assert fit[1][3] == ["a gradient", "a tall gradient, red to the right"]
assert fit[2][3] == ["an orange \u00fc block"], fit[2][3]
orig = samples(w + "/orig")
y, x = np.mgrid[0:30, 0:10]
assert (orig[1][0] == np.stack([x * 20, y * 8, np.full_like(x, 7)], -1).astype(np.uint8)).all()
assert orig[0][0].shape == (20, 40, 3)
PY
# Errors name the line and leave no dataset.
printf '{"file": "a.png", "caption": "ok"}\n{"file": "nope.png", "caption": "x"}\n' > "$work/missing.jsonl"
if "$xomni" data import --images "$work/img" --captions "$work/missing.jsonl" --out "$work/bad1" 2> "$work/err"; then
  echo "a missing image was accepted" >&2; exit 1
fi
grep -q "missing.jsonl line 2: read_image: cannot open .*nope.png" "$work/err" || { cat "$work/err" >&2; exit 1; }
[[ ! -e "$work/bad1/manifest.json" ]] || { echo "a failed import left a manifest" >&2; exit 1; }
printf '{"file": "a.png", "caption": "ok"}\n{"file": "a.png", "caption": 3}\n' > "$work/bad.jsonl"
if "$xomni" data import --images "$work/img" --captions "$work/bad.jsonl" --out "$work/bad2" 2> "$work/err"; then
  echo "a bad caption was accepted" >&2; exit 1
fi
grep -q 'bad.jsonl line 2: "caption" is not a string' "$work/err" || { cat "$work/err" >&2; exit 1; }
printf '{"file": "a.png", "caption": "ok"\n' > "$work/json.jsonl"
if "$xomni" data import --images "$work/img" --captions "$work/json.jsonl" --out "$work/bad3" 2> "$work/err"; then
  echo "bad JSON was accepted" >&2; exit 1
fi
grep -q 'json.jsonl line 1: not valid JSON' "$work/err" || { cat "$work/err" >&2; exit 1; }
# An existing dataset is never lost: a non-empty --out is refused without --overwrite, and a
# failed import with --overwrite leaves the old dataset (manifest included) as it was.
before=$(cat "$work/orig/manifest.json")
if "$xomni" data import --images "$work/img" --captions "$work/captions.jsonl" --out "$work/orig" 2> "$work/err"; then
  echo "a non-empty --out was replaced without --overwrite" >&2; exit 1
fi
grep -q "orig is not empty; give --overwrite" "$work/err" || { cat "$work/err" >&2; exit 1; }
if "$xomni" data import --images "$work/img" --captions "$work/missing.jsonl" --out "$work/orig" --overwrite 2> "$work/err"; then
  echo "a failing import succeeded" >&2; exit 1
fi
[[ "$(cat "$work/orig/manifest.json")" == "$before" ]] || { echo "a failed import changed the old dataset" >&2; exit 1; }
ls "$work" | grep -q "staging" && { echo "a failed import left its staging folder" >&2; exit 1; }
# With --overwrite a complete import replaces it (now resized: 3 samples of the fit sizes).
"$xomni" data import --images "$work/img" --captions "$work/captions.jsonl" --out "$work/orig" \
  --short-edge 8 --max-long-edge 12 --overwrite | grep -q "imported 3 images"
/usr/bin/python3 -c 'import h5py, json, sys; m = json.load(open(sys.argv[1] + "/manifest.json")); f = h5py.File(sys.argv[1] + "/" + m["shards"][0]["file"]); assert [list(s) for s in f["sizes"][()]] == [[6, 12], [12, 4], [8, 12]], f["sizes"][()]' "$work/orig"
ls "$work" | grep -q "replaced\|staging" && { echo "a stale folder was left beside the dataset" >&2; exit 1; }
# Sizes no image could take are refused naming the flag (no std::bad_alloc), and a PNG whose
# header claims 2^31-1 x 2^31-1 pixels names the file and the limit; neither touches the dataset.
before=$(cat "$work/orig/manifest.json")
if "$xomni" data import --images "$work/img" --captions "$work/captions.jsonl" --out "$work/orig" \
    --short-edge 100000 --overwrite 2> "$work/err"; then
  echo "--short-edge 100000 was accepted" >&2; exit 1
fi
grep -q -- "--short-edge 100000 makes images of at least 100000x100000 pixels" "$work/err" || { cat "$work/err" >&2; exit 1; }
grep -q "XOMNI_MAX_IMAGE_PIXELS" "$work/err" || { cat "$work/err" >&2; exit 1; }
# Below the up-front bound but too large for a wide image: the line and file are named.
if XOMNI_MAX_IMAGE_PIXELS=1000 "$xomni" data import --images "$work/img" \
    --captions "$work/captions.jsonl" --out "$work/big" --short-edge 30 2> "$work/err"; then
  echo "a resize beyond the pixel limit was accepted" >&2; exit 1
fi
grep -q "captions.jsonl line 1: .*a.png at --short-edge 30: resize_image: the target: an image of 60x30" "$work/err" || { cat "$work/err" >&2; exit 1; }
/usr/bin/python3 - "$work/img/huge.png" <<'PY'
import struct, sys, zlib
ihdr = b"IHDR" + struct.pack(">IIBBBBB", 2**31 - 1, 2**31 - 1, 8, 2, 0, 0, 0)
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + ihdr +
                             struct.pack(">I", zlib.crc32(ihdr)))
PY
printf '{"file": "huge.png", "caption": "x"}\n' > "$work/huge.jsonl"
if "$xomni" data import --images "$work/img" --captions "$work/huge.jsonl" --out "$work/orig" \
    --overwrite 2> "$work/err"; then
  echo "a PNG claiming 2^62 pixels was accepted" >&2; exit 1
fi
grep -q "huge.jsonl line 1: read_image .*huge.png (PNG header): an image of 2147483647x2147483647 pixels is larger than the limit" "$work/err" || { cat "$work/err" >&2; exit 1; }
[[ "$(cat "$work/orig/manifest.json")" == "$before" ]] || { echo "a refused import changed the dataset" >&2; exit 1; }
echo "data import: all checks passed"
