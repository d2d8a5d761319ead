#!/usr/bin/env bash
# `xomni plan`: on the tiny LM (4 devices, cpu) and Qwen2-7B at 16k (64 H100s) every plan in the
# JSON is a valid layout of the job that fits the device, ranked by step time, with its memory
# terms adding up and its predicted tp bytes what two all-reduces per layer and direction give;
# an rl job's round comes out as phases that add up; bad inputs fail naming what is wrong.
#   tests/jobs/cli/plan_cli.sh XOMNI REPO
set -euo pipefail
xomni="$1"
repo="$2"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

"$xomni" plan "$repo/jobs/tiny/lm.toml" --devices 4 --device cpu --top 3 --json "$work/tiny.json" \
  > "$work/tiny.out" || fail "plan tiny"
grep -q "^tp=" "$work/tiny.out" ||
  fail "no table rows: $(cat "$work/tiny.out")"
"$xomni" plan "$repo/jobs/scale/qwen2_7b.toml" --devices 64 --device h100 --json "$work/7b.json" \
  > "$work/7b.out" || fail "plan 7b"

python3 - "$work/tiny.json" "$work/7b.json" <<'PY'
import json, sys

def check(path, heads, kv, layers, tied, devices, batch):
    doc = json.load(open(path))
    plans = doc["plans"]
    assert plans and doc["fitting"] == len(plans), (path, doc["fitting"], len(plans))
    budget = doc["device_memory_bytes"] / (devices if doc["device"] == "cpu" else 1)
    last = 0
    for p in plans:
        tp, cp, dp, pp = p["tp"], p["cp"], p["dp"], p["pp"]
        assert tp * cp * dp * pp == devices, p
        assert heads % tp == 0 and kv % tp == 0 and pp <= layers, p
        assert not (tied and pp > 1), p
        assert p["micro_batch_size"] % dp == 0, p
        assert p["micro_batch_size"] * p["micro_batches"] == batch, p
        m = p["memory_bytes"]
        parts = sum(m[k] for k in ("parameters", "gradients", "optimizer", "activations", "logits",
                                   "comm_buffers", "runtime"))
        assert abs(parts - m["total"]) <= 1e-6 * m["total"] and m["total"] <= budget, p
        assert p["step_s"] >= last, "not ranked by step time"
        last = p["step_s"]
        assert abs(p["step_s"] - p["compute_s"] - p["bubble_s"] - p["comm_s"]) < 1e-9 * p["step_s"]
        bubble = (pp - 1) / (p["micro_batches"] + pp - 1)
        assert abs(p["bubble_fraction"] - bubble) < 1e-12, p
    return doc, plans

# tiny LM: 4 heads / 2 KV heads, 4 layers, tied (no pp), 8 sequences of 128 per step.
doc, plans = check(sys.argv[1], 4, 2, 4, True, 4, 8)
assert doc["parameters"] == 1024 * 128 + 4 * (128 * 128 + 128 + 2 * (128 * 64 + 64) + 128 * 128
                                             + 3 * 128 * 352 + 2 * 128) + 128, doc["parameters"]
# tp=2, no sequence parallelism, one micro-batch of 8 x 128: per layer two all-reduces forward
# and two backward of [B, T, 128] f32 (4 MiB... per micro-batch), plus the embedding's and the
# head's, plus the loss's three f64 rows: check against that closed form.
for p in plans:
    if p["tp"] == 2 and p["cp"] == 1 and p["pp"] == 1 and not p["recompute"]:
        tokens = p["micro_batch_size"] // p["dp"] * 128
        want = p["micro_batches"] * ((4 * 4 + 2) * tokens * 128 * 4 + 3 * tokens * 8) + 8
        got = sum(c["bytes"] for c in p["comm_stage0"] if c["group"] == "tp")
        assert got == want, (p, got, want)
        break
else:
    raise AssertionError("no tp=2 plan for the tiny LM")

# Qwen2-7B at 16k on 64 H100s: 28 heads / 4 KV heads (tp <= 4), untied.
doc, plans = check(sys.argv[2], 28, 4, 28, False, 64, 128)
assert doc["parameters"] == 7615616512, doc["parameters"]  # Qwen2-7B's published 7.62B
best = plans[0]
assert best["tp"] <= 4 and best["memory_bytes"]["total"] < 80 * 2**30, best
PY

# --sweep-layouts K: the first K plans of the JSON that keep the job's one micro-batch, in
# scaling_sweep.sh's --layout form.
"$xomni" plan "$repo/jobs/tiny/lm.toml" --devices 4 --device cpu --sweep-layouts 3 > "$work/sweep" ||
  fail "plan --sweep-layouts"
python3 - "$work/tiny.json" "$work/sweep" <<'PY'
import json, sys
plans = [p for p in json.load(open(sys.argv[1]))["plans"] if p["micro_batches"] == 1][:3]
want = ["tp=%d,cp=%d,pp=%d,distributed_optimizer=%s,model.checkpoint_layers=%s"
        % (p["tp"], p["cp"], p["pp"], str(p["zero1"]).lower(), str(p["recompute"]).lower())
        for p in plans]
got = open(sys.argv[2]).read().split()
assert got == want, (got, want)
PY

# Errors.
expect_error() {
  local want="$1"
  shift
  if "$xomni" plan "$@" > "$work/out" 2> "$work/err"; then fail "plan $* succeeded"; fi
  grep -qF -- "$want" "$work/err" || fail "plan $*: expected '$want' in: $(cat "$work/err")"
}
# An rl stage job: its round's phases on dp = --devices (its calibration: plan_calibrate.sh).
rl_job="$repo/jobs/tiny/xomni_rl.toml"
"$xomni" plan "$rl_job" --devices 2 --device cpu --set 'rl.grid="8x8"' --json "$work/rl.json" \
  > "$work/rl.out" || fail "plan rl: $(cat "$work/rl.out")"
grep -q "rl round, dp=2, 2 prompts x 8 rollouts" "$work/rl.out" || fail "rl round: $(cat "$work/rl.out")"
python3 - "$work/rl.json" <<'PY' || fail "rl json"
import json, sys
d = json.load(open(sys.argv[1]))
parts = d["sample_s"] + d["decode_s"] + d["logp_s"] + d["reward_wait_s"] + d["update_s"]
assert abs(parts - d["step_s"]) < 1e-9 * d["step_s"], d
assert d["rollouts_per_rank"] == 16 and min(d["sample_s"], d["logp_s"], d["update_s"]) > 0, d
PY
expect_error "its layout is dp = --devices" "$rl_job" --devices 2 --layout tp=2 --set 'rl.grid="8x8"'
expect_error "rl.grid is empty and the job's data does not give it" "$rl_job" --devices 1
# Without rl.grid the planner reads the grid from the job's multimodal.json, as the rl stage does:
# 4 x 6 tokens a rollout, not 8 x 8.
mkdir -p "$work/mm"
cat > "$work/mm/multimodal.json" <<'JSON'
{"format": "xomni-multimodal", "format_version": 1, "text_tokenizer": "tokenizer.json",
 "text_vocab_size": 1030, "image_vocab_size": 512, "image_tokenizer": "vq.h5",
 "grids": [[4, 6], [8, 8]], "special_tokens": {"som": 1024, "eom": 1025, "image": 1026, "eos": 1027}}
JSON
"$xomni" plan "$rl_job" --devices 2 --device cpu --set "rl.multimodal=\"$work/mm/multimodal.json\"" \
  --json "$work/rl_mm.json" > "$work/rl_mm.out" 2> "$work/rl_mm.err" || fail "plan rl from multimodal.json: $(cat "$work/rl_mm.err")"
grep -qF "rl.grid = 4x6, from the job's multimodal.json" "$work/rl_mm.err" || fail "no grid line: $(cat "$work/rl_mm.err")"
"$xomni" plan "$rl_job" --devices 2 --device cpu --set 'rl.grid="4x6"' --json "$work/rl_46.json" > /dev/null ||
  fail "plan rl 4x6"
cmp -s "$work/rl_mm.json" "$work/rl_46.json" || fail "the grid from multimodal.json plans otherwise than rl.grid=4x6"
cmp -s "$work/rl_mm.json" "$work/rl.json" && fail "a 4x6 grid planned as 8x8"

expect_error "--devices" "$repo/jobs/tiny/lm.toml" --devices 0
expect_error "--devices" "$repo/jobs/tiny/lm.toml" --devices 3x
expect_error "--devices N is required" "$repo/jobs/tiny/lm.toml"
printf '[model]\nhidden_size = 64\n' > "$work/bad.toml"
expect_error "model.num_hidden_layers is missing" "$work/bad.toml" --devices 2
printf '[model\n' > "$work/broken.toml"
expect_error "TOML syntax error" "$work/broken.toml" --devices 2
expect_error "unknown device 'tpu'" "$repo/jobs/tiny/lm.toml" --devices 2 --device tpu
# Qwen2-7B at 16k cannot fit one H100: the error names the smallest and what dominates it.
expect_error "no layout fits in 80" "$repo/jobs/scale/qwen2_7b.toml" --devices 1 --device h100
grep -q "dominated by" "$work/err" || fail "no dominant term: $(cat "$work/err")"
echo "plan_cli: ok"
