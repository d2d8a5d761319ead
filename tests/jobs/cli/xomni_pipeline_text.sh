#!/usr/bin/env bash
# The X-Omni study with signs at the smoke scale: jobs/tiny/xomni.toml with a [synth] text_set
# (16 128x32 signs beside the scenes) and RL on a pool that mixes scenes and signs, scored by
# jobs/tiny/rewards_scene_text.toml. Checks the chain the default study leaves off: the sign
# datasets, the codec stages on both streams, codec-eval's OCR pass, both grids in the token
# data (the scenes' first), the evaluation's signs on the sign grid, RL's OCR reward, and the
# report's sign rows. Skips (exit 77) without the ocr reward plugin (Tesseract).
#   xomni_pipeline_text.sh XOMNI SOURCE_DIR
set -euo pipefail
xomni="$1"
src="$2"
plugins=$("$xomni" plugins 2> /dev/null || true)  # whole, not piped into grep -q (SIGPIPE)
if ! grep -Eq '^reward +ocr ' <<< "$plugins"; then
  echo "SKIP: the ocr reward plugin (Tesseract) is not built"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# The study file beside the test's work, its job files named by absolute path.
sed -e "s#^job = \"\\(.*\\.toml\\)\"#job = \"$src/jobs/tiny/\\1\"#" \
  -e '/^valid_set = \["synth.seed=2", "synth.scenes=256"\]$/a text_set = ["synth.scenes=0", "synth.text_short=16", "synth.text_scale=0.5"]\ntext_valid_set = ["synth.text_short=4"]' \
  "$src/jobs/tiny/xomni.toml" > "$work/study.toml"
grep -q '^text_set = ' "$work/study.toml" || fail "no text_set in the study file"
rewards="$src/jobs/tiny/rewards_scene_text.toml"
"$xomni" pipeline "$work/study.toml" --set study.scale=smoke --set "study.root=$work/study" \
  --set rl.rl.text_fraction=0.5 --set "rl.rl.rewards=$rewards" --set bon.rl.text_fraction=0.5 \
  --set "bon.rl.rewards=$rewards" --set rl.train.steps=4 --set rl.train.batch_size=2 > "$work/run.log" 2>&1 ||
  { tail -n 40 "$work/run.log"; fail "the smoke study with signs failed"; }

python3 - "$work/study/seed-1" "$work/study" <<'PY'
import glob, json, os, sys
root, study = sys.argv[1], sys.argv[2]
for d in ("text-train", "text-valid"):
    assert json.load(open(f"{root}/synth/{d}/manifest.json"))["num_samples"] == (16 if d == "text-train" else 4), d
for stage in ("siglip", "vq", "decoder"):
    log = open(f"{root}/{stage}/log.txt").read()
    assert f"data.train_text={root}/synth/text-train" in log, stage
ocr = json.load(open(f"{root}/codec-eval/text-images/results.json"))["ocr"]
assert ocr["images"] == 4 and ocr["word_accuracy_original"] > 0.5, ocr
mm = json.load(open(glob.glob(f"{root}/mmdata/gen/multimodal.json")[0]))
assert mm["grids"] == [[8, 8], [4, 16]], mm["grids"]
for stage in ("eval-sft", "eval-rl"):
    rows = [json.loads(l) for l in open(f"{root}/{stage}/samples/cfg-1/samples.jsonl")]
    grids = {(r["task"], r.get("bucket", "")): r["grid"] for r in rows}
    assert grids[("scene", "")] == [8, 8] and grids[("text", "short")] == [4, 16], grids
rl = [json.loads(l) for l in open(f"{root}/rl/metrics.jsonl")]
rl = [r for r in rl if "reward" in r]
assert len(rl) == 4 and all("reward.ocr" in r and "reward.scene" in r for r in rl), rl
# Rounds of 2 prompts from a half-and-half pool: some held a sign (OCR scored), some a scene.
assert any(r["reward.ocr"] is not None for r in rl), rl
assert any(r["reward.scene"] is not None for r in rl), rl
report = open(f"{study}/report/report.md").read()
assert "| text images: OCR word accuracy, originals |" in report, report[:2000]
PY
echo "pipeline with signs: the smoke chain ran, signs through codec, data, RL and evaluation"
