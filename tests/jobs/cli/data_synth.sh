#!/usr/bin/env bash
# `xomni data synth` is deterministic (same seed -> identical shard bytes, another seed -> other
# bytes), `xomni data sheet` writes a PNG, `xomni data prompts` writes the prompt sets, and a bad
# job fails with a message that names the key.
set -euo pipefail
xomni="$1"
job="$2"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
small=(--set synth.scenes=12 --set synth.text_short=8 --set synth.text_long=3
       --set synth.samples_per_shard=10)
"$xomni" data synth "$job" "${small[@]}" --set synth.out="$out/a" > /dev/null
# A second apart: HDF5 stamps object headers with the time unless told not to, and the bytes
# must not depend on when the job ran.
sleep 1.1
"$xomni" data synth "$job" "${small[@]}" --set synth.out="$out/b" > /dev/null
"$xomni" data synth "$job" "${small[@]}" --set synth.out="$out/c" --set synth.seed=2 > /dev/null
n=0
for f in "$out"/a/*; do
  cmp "$f" "$out/b/$(basename "$f")"
  n=$((n + 1))
done
[ "$n" -eq 4 ] || { echo "expected 3 shards + manifest, found $n files" >&2; exit 1; }
if cmp -s "$out/a/shard-00000.h5" "$out/c/shard-00000.h5"; then
  echo "seed 2 wrote the same bytes as seed 1" >&2
  exit 1
fi
/usr/bin/python3 - "$out/a" <<'PY'
import json, sys
m = json.load(open(sys.argv[1] + "/manifest.json"))
assert m["num_samples"] == 23, m
PY
# text_scale = 0.5: short text images at 128x32, long at 256x128 (multiples of the codec's patch).
"$xomni" data synth "$job" --set synth.scenes=0 --set synth.text_short=2 --set synth.text_long=1 \
  --set synth.text_scale=0.5 --set synth.out="$out/half" > /dev/null
/usr/bin/python3 - "$out/half" <<'PY'
import glob, h5py, json, sys
sizes, kinds = [], []
for f in sorted(glob.glob(sys.argv[1] + "/shard-*.h5")):
    with h5py.File(f) as h:
        sizes += [tuple(int(v) for v in s) for s in h["sizes"][:]]
        kinds += [json.loads(m)["bucket"] for m in h["metadata"][:]]
assert sorted(zip(kinds, sizes)) == [("long", (128, 256)), ("short", (32, 128)),
                                     ("short", (32, 128))], (kinds, sizes)
PY
"$xomni" data sheet "$out/a" --out "$out/sheet.png" --count 6 > /dev/null
# The GenEval metric over clean synthetic scenes: every scene passes its own prompt.
"$xomni" data check "$out/a" > "$out/check.md"
grep -q '^| overall | \([0-9]*\)/\1 | 1.0000 |$' "$out/check.md" || {
  echo "data check: clean scenes should all pass:" >&2; cat "$out/check.md" >&2; exit 1; }
head -c 8 "$out/sheet.png" | od -An -tx1 | grep -q "89 50 4e 47 0d 0a 1a 0a"
"$xomni" data prompts --out "$out/p" --train-count 10 > /dev/null
[ "$(wc -l < "$out/p/geneval.jsonl")" -eq 300 ]
[ "$(wc -l < "$out/p/train.jsonl")" -eq 10 ]
if "$xomni" data synth "$job" --set synth.scene=3 2> "$out/err"; then
  echo "an unknown key did not fail" >&2
  exit 1
fi
grep -q "synth.scenes" "$out/err"
# An existing dataset is replaced only when asked, and then with identical bytes for the same job.
if "$xomni" data synth "$job" "${small[@]}" --set synth.out="$out/a" 2> "$out/err"; then
  echo "synth replaced a dataset without --overwrite" >&2
  exit 1
fi
grep -q "is not empty; give --overwrite" "$out/err"
"$xomni" data synth "$job" "${small[@]}" --set synth.out="$out/a" --overwrite > /dev/null
for f in "$out"/a/*; do cmp "$f" "$out/b/$(basename "$f")"; done
echo "1 passed, 0 failed"
