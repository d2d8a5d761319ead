#!/usr/bin/env bash
# jobs/tiny/run_lm.sh (the tiny language-model job) samples from the run the training wrote:
# with --set run.name=other it must take other's final checkpoint, not the default run's
# (runs/tiny-lm, here holding a newer-looking junk checkpoint that generate would refuse).
#   tests/jobs/cli/run_lm_named_run.sh XOMNI REPO
set -euo pipefail
xomni="$(realpath "$1")"
repo="$(realpath "$2")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
cd "$work"
mkdir -p jobs/tiny runs/tiny-lm/checkpoints
cp "$repo/jobs/tiny/lm.toml" jobs/tiny/
echo junk > runs/tiny-lm/checkpoints/ckpt-99999999.h5
# Shards from one license text (run_lm.sh skips its own tokenising when they exist).
"$xomni" prepare-text --input /usr/share/common-licenses/GPL-3 --out runs/tiny-lm-data \
  --vocab-size 1024 > /dev/null
XOMNI="$xomni" OMP_NUM_THREADS=1 "$repo/jobs/tiny/run_lm.sh" --set run.name=other \
  --set train.steps=2 --set train.checkpoint_every=2 --set train.eval_every=0 --set schedule.warmup_steps=1 \
  --set model.hidden_size=32 --set model.intermediate_size=64 --set model.num_hidden_layers=1 \
  --set train.seq_len=32 --set train.batch_size=2 > out.txt 2>&1 || fail "run_lm.sh: $(tail -n 20 out.txt)"
grep -q -- "--- greedy sample from runs/other/checkpoints/ckpt-0*2.h5" out.txt ||
  fail "sampled from the wrong run: $(grep -- '--- greedy sample' out.txt || tail -n 5 out.txt)"
echo "ok: sampled from runs/other"
