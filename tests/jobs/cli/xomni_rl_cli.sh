#!/usr/bin/env bash
# GRPO (`xomni train` with run.stage = "rl") and `xomni bon` on the tiny X-Omni chain trained here
# (toy_chain.sh), rewards scored by a worker process (the scene checker's partial score
# plus the contrast example, so a group's rewards differ):
#   - two data-parallel ranks give one process's losses, rewards and KL within 1e-5 over 3 steps,
#     and its weights within 1e-5;
#   - a run stopped after step 1 and resumed ends bitwise equal to the uninterrupted run;
#   - best-of-N at N = 1 over the first round's prompts and seeds is the RL run's first reward,
#     and the levels rise with N;
#   - the RL checkpoint loads in `xomni imagine` (its data found through the SFT checkpoint);
#   - clear refusals (tensor parallelism, no rewards file, a missing reward plugin).
#   tests/jobs/cli/xomni_rl_cli.sh XOMNI MPIEXEC
set -euo pipefail
xomni="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
mpiexec="$2"
toy="$(cd "$(dirname "$0")" && pwd)/codec_toy"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cd "$work"
# shellcheck source=toy_chain.sh
source "$toy/../toy_chain.sh"
build_xomni_toy_chain "$xomni" "$toy"

cat > rewards.toml <<'TOML'
[[rewards]]
plugin = "scene"
config = "score = partial"
[[rewards]]
plugin = "contrast"
weight = 0.5
TOML
sed -n '/^\[model\]/,/^\[data\]/p' xo.toml | sed '$d' > model.toml
{
  printf '[run]\nstage = "rl"\nname = "rl1"\ndir = "runs"\nseed = 3\n'
  cat model.toml
  printf 'init_checkpoint = "%s"\n' "$ckpt"
  printf '[rl]\nrewards = "rewards.toml"\nreward_workers = 1\ngroup_size = 4\nprompt_count = 16\n'
  printf 'kl_weight = 0.05\n'
  printf '[train]\nsteps = 3\nbatch_size = 2\nlog_every = 1\n'
  printf '[optimizer]\nlearning_rate = 1e-2\n[schedule]\nkind = "constant"\nwarmup_steps = 0\n'
} > rl.toml
"$xomni" train rl.toml > rl1.log 2>&1 || { cat rl1.log; fail "rl at one process"; }
"$mpiexec" -np 2 "$xomni" train rl.toml --set run.name=rl2 > rl2.log 2>&1 ||
  { cat rl2.log; fail "rl at dp=2"; }
"$xomni" train rl.toml --set run.name=rl3 --set train.steps=1 > rl3.log 2>&1 ||
  { cat rl3.log; fail "rl for one step"; }
"$xomni" train rl.toml --set run.name=rl3 > rl3b.log 2>&1 || { cat rl3b.log; fail "rl resumed"; }
grep -q "resuming from" rl3b.log || fail "the second run did not resume: $(cat rl3b.log)"
"$xomni" bon rl.toml --prompts 2 --out bon > bon.log 2>&1 || { cat bon.log; fail "bon"; }

python3 - <<'PY' || fail "metrics"
import json
def steps(run):
    rows = [json.loads(l) for l in open(f"runs/{run}/metrics.jsonl")]
    return {r["step"]: r for r in rows if "reward" in r}
one, two, resumed = steps("rl1"), steps("rl2"), steps("rl3")
assert sorted(one) == [1, 2, 3] and sorted(two) == [1, 2, 3], (one, two)
for s in (1, 2, 3):
    for key in ("loss", "reward", "kl", "entropy", "reward.contrast", "reward.scene.object_found",
                "zero_std_fraction", "clip_fraction"):
        a, b = one[s][key], two[s][key]
        assert abs(a - b) <= 1e-5 * max(1.0, abs(a)), (s, key, a, b)
    assert one[s] == {**one[s], **{k: resumed[s][k] for k in ("loss", "reward", "kl")}}, (s, resumed[s])
# The first step has ratio 1 and policy == reference: no clipping, no KL; later steps move away.
assert one[1]["clip_fraction"] == 0 and one[1]["kl"] == 0, one[1]
assert one[3]["kl"] > 0, one[3]
rewards = [one[s]["reward"] for s in (1, 2, 3)]
assert len(set(rewards)) > 1, rewards
bon = json.load(open("bon/bon.json"))
levels = [row["mean_best_reward"] for row in bon["by_n"]]
assert [row["n"] for row in bon["by_n"]] == [1, 2, 4], bon["by_n"]
assert levels == sorted(levels) and levels[-1] > levels[0], levels
assert abs(levels[0] - one[1]["reward"]) <= 1e-6, (levels[0], one[1]["reward"])
best = sum(max(p["rewards"]) for p in bon["per_prompt"]) / len(bon["per_prompt"])
assert abs(levels[-1] - best) <= 1e-6, (levels[-1], best)
PY
# Weights: dp=2 within 1e-5 of one process; the resumed run bitwise equal.
h5diff -d 1e-5 runs/rl1/checkpoints/ckpt-00000003.h5 runs/rl2/checkpoints/ckpt-00000003.h5 /model \
  > diff2.txt || fail "dp=2 weights differ: $(head -20 diff2.txt)"
for group in /model /optimizer; do
  h5diff runs/rl1/checkpoints/ckpt-00000003.h5 runs/rl3/checkpoints/ckpt-00000003.h5 $group \
    > diff3.txt || fail "the resumed run's $group differs: $(head -20 diff3.txt)"
done
# The RL checkpoint is a model the X-Omni commands load (multimodal.json through the SFT
# checkpoint it started from).
"$xomni" imagine --checkpoint runs/rl1/checkpoints/ckpt-00000003.h5 --prompt "a red cube" --seed 3 \
  --out rl.png > /dev/null || fail "imagine from the rl checkpoint"
[[ -s rl.png && -s rl.json ]] || fail "imagine from the rl checkpoint wrote $(ls)"

# Scene and text prompts in one run (rl.text_fraction): each task scored by its own rewards
# (tasks = [...]), text prompts sampled on the wide grid of a multimodal.json that lists one
# (1x4 beside 2x2). A step whose round holds no prompt of a reward's task logs it as null.
mkdir -p wide
cp mm/tokenizer.json wide/
python3 - mm/multimodal.json wide/multimodal.json <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["grids"] = [[2, 2], [1, 4]]
json.dump(m, open(sys.argv[2], "w"))
PY
cat > tasks.toml <<'TOML'
[[rewards]]
plugin = "scene"
config = "score = partial"
tasks = ["scene"]
[[rewards]]
plugin = "contrast"
tasks = ["text"]
TOML
"$xomni" train rl.toml --set run.name=mixed --set rl.rewards=tasks.toml --set rl.text_fraction=0.5 \
  --set rl.multimodal=wide/multimodal.json --set rl.image_every=1 --set train.steps=4 \
  --set train.batch_size=1 > mixed.log 2>&1 || { cat mixed.log; fail "rl with scene and text prompts"; }
python3 - <<'PY' || fail "mixed-task metrics"
import json
rows = [json.loads(l) for l in open("runs/mixed/metrics.jsonl")]
rows = [r for r in rows if "reward" in r]
prompts = [json.loads(l)["prompt"] for s in range(4)
           for l in open(f"runs/mixed/samples/step-{s:08d}.jsonl")]
assert len(rows) == 4 and len(prompts) == 4, (rows, prompts)
for r, p in zip(rows, prompts):
    text = '"' in p  # a text prompt quotes its text
    # The reward of the task's own scorer, null for the other one; the total is that reward.
    assert (r["reward.contrast"] is None) != text and (r["reward.scene"] is None) == text, (r, p)
    assert abs(r["reward"] - r["reward.contrast" if text else "reward.scene"]) < 1e-6, (r, p)
assert any('"' in p for p in prompts) and not all('"' in p for p in prompts), prompts
PY
python3 - runs/mixed/samples <<'PY' || fail "rollout images of a text prompt"
import glob, json, struct, sys
for png in sorted(glob.glob(sys.argv[1] + "/step-*.png")):
    w, h = struct.unpack(">II", open(png, "rb").read()[16:24])
    prompt = json.loads(open(png[:-4] + ".jsonl").readline())["prompt"]
    # 4 rollouts in a 2x2 tile of 4-pixel gutters around cells of the image's size (patch 8).
    cell = (32, 8) if '"' in prompt else (16, 16)
    assert (w, h) == (2 * cell[0] + 12, 2 * cell[1] + 12), (png, prompt, w, h)
PY

expect_error() {  # expect_error PATTERN command...
  local pattern=$1 status=0
  shift
  "$@" > /dev/null 2> err || status=$?
  [[ $status -ne 0 ]] || fail "$* succeeded"
  grep -q -- "$pattern" err || fail "$*: expected '$pattern', got: $(cat err)"
}
expect_error "GRPO runs data-parallel only" "$xomni" train rl.toml --set parallel.tp=2 --set run.name=bad
expect_error "rl.rewards is not set" "$xomni" train rl.toml --set rl.rewards= --set run.name=bad
printf '[[rewards]]\nplugin = "no_such_reward"\n' > missing.toml
expect_error "no_such_reward" "$xomni" train rl.toml --set rl.rewards=missing.toml --set run.name=bad
echo "1 passed, 0 failed"
