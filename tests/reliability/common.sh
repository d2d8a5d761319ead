# shellcheck shell=bash
# Shared by the fault tests: a tiny LM job in a scratch folder, and checks on what a run left.
# Source after setting `xomni`; defines `work` (removed at exit) and writes $work/job.toml.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$xomni" prepare-text --input /usr/share/common-licenses/GPL-3 --out "$work/data" \
  --vocab-size 300 > /dev/null
cat > "$work/job.toml" <<TOML
[run]
name = "fault"
dir = "$work/runs"
[model]
vocab_size = 300
hidden_size = 32
intermediate_size = 64
num_hidden_layers = 2
num_attention_heads = 2
num_key_value_heads = 1
[data]
train = "$work/data/train"
[train]
steps = 40
batch_size = 2
seq_len = 32
log_every = 1000
checkpoint_every = 1
keep_checkpoints = 3
[parallel]
timeout_s = 5
checkpoint_timeout_s = 5
TOML
run_dir="$work/runs/fault"

fail() { echo "FAIL: $*" >&2; exit 1; }

# The newest checkpoint's step, or 0.
newest_step() {
  local last
  last=$(find "$run_dir/checkpoints" -name 'ckpt-*.h5' 2> /dev/null | sort | tail -n 1)
  [[ -n "$last" ]] || { echo 0; return; }
  basename "$last" .h5 | sed 's/ckpt-0*//; s/^$/0/'
}

# metrics.jsonl holds steps 1..N, each exactly once, in order, every line complete JSON.
check_metrics_complete() {
  local n="$1"
  python3 - "$run_dir/metrics.jsonl" "$n" <<'PY' || fail "metrics.jsonl is not steps 1..$n once each"
import json, sys
steps = [json.loads(line)["step"] for line in open(sys.argv[1])]
want = list(range(1, int(sys.argv[2]) + 1))
if steps != want:
    print(f"steps {steps[:5]}...{steps[-5:]} ({len(steps)}), want 1..{sys.argv[2]}", file=sys.stderr)
    sys.exit(1)
PY
}

# The training process ids of an mpiexec launch (its direct children running xomni).
rank_pids() { pgrep -P "$1" -f "xomni train" || true; }

# Starts `mpiexec -np 2 xomni train` on a job that runs until stopped, waits until step 3 is
# checkpointed, and sets `launcher` (mpiexec's pid), `victim` (one rank's pid) and `saved` (the
# newest checkpointed step then).
start_two_ranks() {
  sed -i 's/^steps = 40/steps = 100000/' "$work/job.toml"
  "$mpiexec" -np 2 "$xomni" train "$work/job.toml" > "$work/out" 2>&1 &
  launcher=$!
  for _ in $(seq 300); do
    [[ $(newest_step) -ge 3 ]] && break
    sleep 0.1
  done
  victim=$(rank_pids "$launcher" | tail -n 1)
  [[ -n "$victim" ]] || fail "no rank process found under mpiexec ($launcher)"
  saved=$(newest_step)
}

# After a fault: no checkpoint newer than `saved` was lost, and one process resumes from the
# newest to 3 steps past it. $1 names the fault in messages.
check_resumes() {
  [[ $(newest_step) -ge $saved ]] || fail "checkpoints lost: newest $(newest_step) < $saved"
  local resume_at=$(( $(newest_step) + 3 ))
  "$xomni" train "$work/job.toml" --set "train.steps=$resume_at" > "$work/resume" 2>&1 ||
    { cat "$work/resume" >&2; fail "resume after the $1"; }
  grep -q "resuming from" "$work/resume" || { cat "$work/resume" >&2; fail "did not resume"; }
}
