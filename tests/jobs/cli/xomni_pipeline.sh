#!/usr/bin/env bash
# `xomni pipeline jobs/tiny/xomni.toml --set study.scale=smoke`: the whole X-Omni chain at the
# smoke scale (every stage a few steps) - interrupted by SIGTERM while s2 trains, refused for a
# second pipeline on the same study meanwhile, then rerun: the finished stages are skipped
# untouched, s2 resumes from the checkpoint its signal saved, and the chain finishes with the
# evaluations and the report.
#   xomni_pipeline.sh XOMNI SOURCE_DIR
set -euo pipefail
xomni="$1"
src="$2"
work=$(mktemp -d)
trap '[[ -n "${pid:-}" ]] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
root="$work/study/seed-1"
# s2 runs long enough to be caught mid-run; its only checkpoint before the end is the signal's.
args=(pipeline "$src/jobs/tiny/xomni.toml" --set study.scale=smoke --set "study.root=$work/study"
  --set s2.train.steps=300 --set s2.train.checkpoint_every=300 --set s2.train.eval_every=300)

"$xomni" "${args[@]}" > "$work/run1.log" 2>&1 &
pid=$!
for _ in $(seq 1500); do
  [[ -s "$root/s2/metrics.jsonl" ]] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.2
done
[[ -s "$root/s2/metrics.jsonl" ]] || { cat "$work/run1.log"; fail "s2 never started"; }
if "$xomni" "${args[@]}" > "$work/second.log" 2>&1; then fail "a second pipeline on the study ran"; fi
grep -q "is in use by another xomni pipeline" "$work/second.log" || { cat "$work/second.log"; fail "no lock message"; }
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=""
[[ $rc == 143 ]] || { cat "$work/run1.log"; fail "interrupted pipeline exited $rc, not 143"; }
grep -q "s2: interrupted by" "$work/run1.log" || fail "no interruption line"
grep -q '"status": "interrupted"' "$root/s2/stage.json" || fail "s2/stage.json does not say interrupted"
ls "$root/s2/checkpoints/"ckpt-*.h5 > /dev/null || fail "the signal saved no s2 checkpoint"
siglip_before=$(cat "$root/siglip/stage.json")

"$xomni" "${args[@]}" > "$work/run2.log" 2>&1 || { cat "$work/run2.log"; fail "the rerun failed"; }
grep -q "siglip: done earlier" "$work/run2.log" || fail "siglip was not skipped"
[[ "$(cat "$root/siglip/stage.json")" == "$siglip_before" ]] || fail "siglip/stage.json changed"
grep -q "resuming from $root/s2/checkpoints/ckpt-" "$root/s2/log.txt" || fail "s2 did not resume"
grep -q "report: $work/study/report/report.html" "$work/run2.log" || { cat "$work/run2.log"; fail "no report named"; }

python3 - "$root" "$work/study" <<'PY'
import json, os, sys
root, study = sys.argv[1], sys.argv[2]
s = json.load(open(os.path.join(root, "study.json")))
names = [st["name"] for st in s["stages"]]
want = ["prompts", "synth", "siglip", "vq", "decoder", "codec-eval", "tokenizer", "mmdata", "lm0",
        "s1", "s2", "s3", "sft", "realism", "bon", "rl", "eval-s2", "eval-sft", "eval-rl", "report"]
assert names == want, names
assert all(st["status"] == "done" for st in s["stages"]), s["stages"]
assert s["scale"] == "smoke" and s["seed"] == 1
# s2's steps: each once, 1..300, across the interruption (a resumed run rewrites none twice).
steps = [json.loads(l)["step"] for l in open(os.path.join(root, "s2", "metrics.jsonl"))
         if '"loss"' in l]
assert steps == list(range(1, 301)), (steps[:5], len(steps))
for stage in ["eval-sft", "eval-rl"]:
    r = json.load(open(os.path.join(root, stage, "results.json")))
    assert sorted(r["generation"].keys()) == ["1", "3"], r["generation"].keys()
    assert r["generation"]["1"]["scene"]["total"] == 2, r["generation"]["1"]["scene"]
    assert r["understanding"]["vqa"]["total"] > 0
assert json.load(open(os.path.join(root, "bon", "bon.json")))["by_n"]
codec = json.load(open(os.path.join(root, "codec-eval", "results.json")))
assert codec["samples"] == 4 and codec["scene_checker"]["scenes"] == 4, codec
assert "PSNR of the reconstructions" in open(os.path.join(study, "report", "report.md")).read()
for f in ["report.md", "report.html"]:
    assert os.path.getsize(os.path.join(study, "report", f)) > 0, f
PY
echo "pipeline: smoke chain interrupted in s2, resumed and finished with its report"
