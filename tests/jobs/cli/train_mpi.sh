#!/usr/bin/env bash
# `mpirun -np 2 xomni train`: tensor parallelism (tp=2), data parallelism with ZeRO-1 and
# interleaved 1F1B (pp=2, virtual_stages=2 on a 4-layer model) print the same final loss as one
# process started without a launcher (singleton MPI); a layout that does not fit stops every rank
# with a message naming the wrong number. The dp run is profiled
# (--profile): every rank writes its table and trace, and the loss is the same. The overlapped
# gradient reduction gives the same losses and gradient norms at every step.
#   tests/jobs/cli/train_mpi.sh XOMNI MPIEXEC
set -euo pipefail
xomni="$1"
mpiexec="$2"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$xomni" prepare-text --input /usr/share/common-licenses/GPL-3 --out "$work/data" --vocab-size 320 > /dev/null
cat > "$work/job.toml" <<TOML
[run]
dir = "$work/runs"
[model]
vocab_size = 320
hidden_size = 32
intermediate_size = 64
num_hidden_layers = 2
num_attention_heads = 4
num_key_value_heads = 2
[data]
train = "$work/data/train"
[train]
steps = 8
batch_size = 4
seq_len = 32
log_every = 1000
[schedule]
warmup_steps = 2
TOML
final_loss() { grep -o 'final training loss [0-9.]*' "$1" | awk '{print $4}'; }

"$xomni" train "$work/job.toml" --set run.name=single > "$work/single" 2>&1
"$mpiexec" -np 2 "$xomni" train "$work/job.toml" --set run.name=tp2 --set parallel.tp=2 \
  > "$work/tp2" 2>&1
# The dp run is profiled too: the profiler must not change a single number.
"$mpiexec" -np 2 "$xomni" train "$work/job.toml" --set run.name=dp2 \
  --set parallel.distributed_optimizer=true --profile 2 > "$work/dp2" 2>&1
for r in 0 1; do
  grep -q "op profile, rank $r: 2 steps" "$work/runs/dp2/profile/ops-rank$r.txt" || {
    echo "dp2: no profile table of rank $r" >&2; cat "$work/dp2" >&2; exit 1; }
  grep -q '"pid": '$r "$work/runs/dp2/profile/trace-rank$r.json" || {
    echo "dp2: no trace of rank $r" >&2; exit 1; }
done
[[ $(grep -c '^op profile, rank' "$work/dp2") -eq 1 ]] || {
  echo "dp2: only rank 0 prints its table" >&2; cat "$work/dp2" >&2; exit 1; }
want=$(final_loss "$work/single")
[[ -n "$want" ]] || { echo "single process: no final loss" >&2; cat "$work/single" >&2; exit 1; }
# Interleaved 1F1B: four virtual stages of one layer, two micro-batches (a group of pp); a
# pipeline cannot tie the embedding to the head.
four_layers=(--set model.num_hidden_layers=4 --set train.grad_accum=2
  --set model.tie_word_embeddings=false)
"$xomni" train "$work/job.toml" --set run.name=single4 "${four_layers[@]}" > "$work/single4" 2>&1
"$mpiexec" -np 2 "$xomni" train "$work/job.toml" --set run.name=pp2v2 "${four_layers[@]}" \
  --set parallel.pp=2 --set parallel.virtual_stages=2 > "$work/pp2v2" 2>&1
want4=$(final_loss "$work/single4")
got4=$(final_loss "$work/pp2v2")
[[ -n "$want4" && "$got4" == "$want4" ]] || {
  echo "pp2v2: final loss '$got4', single process '$want4'" >&2; cat "$work/pp2v2" >&2; exit 1; }
for run in tp2 dp2; do
  got=$(final_loss "$work/$run")
  [[ "$got" == "$want" ]] || {
    echo "$run: final loss '$got', single process '$want'" >&2; cat "$work/$run" >&2; exit 1; }
  # Only rank 0 reports.
  [[ $(grep -c 'final training loss' "$work/$run") -eq 1 ]] || {
    echo "$run: expected one summary line" >&2; cat "$work/$run" >&2; exit 1; }
done

# Overlapped gradient reduction (parallel.overlap_grad_reduce) and, with ZeRO-1, the parameter
# all-gather overlapped with the next forward (parallel.overlap_param_gather): with two
# micro-batches and small buckets, the same losses and gradient norms, step by step, as the
# blocking reduction and gather, with ZeRO-1 and without.
losses() { grep -o '"loss": [-0-9.e]*, "lr": [-0-9.e]*, "grad_norm": [-0-9.e]*' "$1"; }
for zero in false true; do
  for overlap in false true; do
    "$mpiexec" -np 2 "$xomni" train "$work/job.toml" --set run.name=ov_${zero}_$overlap \
      --set parallel.distributed_optimizer=$zero --set parallel.overlap_grad_reduce=$overlap \
      --set parallel.overlap_param_gather=$overlap --set parallel.bucket_mb=0.01 --set train.grad_accum=2 > "$work/ov_${zero}_$overlap" 2>&1 || {
      cat "$work/ov_${zero}_$overlap" >&2; exit 1; }
  done
done
for zero in false true; do
  cmp <(losses "$work/runs/ov_${zero}_false/metrics.jsonl") \
    <(losses "$work/runs/ov_${zero}_true/metrics.jsonl") || {
    echo "overlap changes the dp=2 losses (ZeRO-1 $zero)" >&2; exit 1; }
done
[[ $(losses "$work/runs/ov_false_true/metrics.jsonl" | wc -l) -eq 8 ]] || {
  echo "expected 8 steps of metrics" >&2; exit 1; }
status=0
"$mpiexec" -np 2 "$xomni" train "$work/job.toml" --set run.name=bad_ov \
  --set parallel.overlap_grad_reduce=sometimes > "$work/bad_ov" 2>&1 || status=$?
[[ $status -ne 0 ]] && grep -q 'parallel.overlap_grad_reduce' "$work/bad_ov" || {
  echo "a bad overlap_grad_reduce value should fail naming the key:" >&2; cat "$work/bad_ov" >&2
  exit 1; }

status=0
"$mpiexec" -np 2 "$xomni" train "$work/job.toml" --set run.name=bad --set parallel.tp=3 \
  > "$work/bad" 2>&1 || status=$?
[[ $status -ne 0 ]] || { echo "tp=3 on 2 ranks should fail" >&2; exit 1; }
grep -q 'tp\*cp\*pp = 3\*1\*1 = 3 does not divide the world size 2' "$work/bad" || { echo "the error does not name tp=3:" >&2; cat "$work/bad" >&2; exit 1; }
status=0
"$mpiexec" -np 2 "$xomni" train "$work/job.toml" --set run.name=bad2 --set parallel.tp=2 \
  --set model.num_key_value_heads=1 > "$work/bad2" 2>&1 || status=$?
[[ $status -ne 0 ]] || { echo "tp=2 with one KV head should fail" >&2; exit 1; }
grep -q 'num_key_value_heads' "$work/bad2" || {
  echo "the error does not name num_key_value_heads:" >&2; cat "$work/bad2" >&2; exit 1; }
status=0
"$mpiexec" -np 2 "$xomni" train "$work/job.toml" --set run.name=bad3 --set parallel.pp=2 \
  --set parallel.virtual_stages=2 > "$work/bad3" 2>&1 || status=$?
[[ $status -ne 0 ]] || { echo "pp=2 x virtual_stages=2 on 2 layers should fail" >&2; exit 1; }
grep -q 'pp=2 x virtual_stages=2 = 4 virtual stages exceed model.num_hidden_layers=2' \
  "$work/bad3" || { echo "the error does not name the virtual stages:" >&2; cat "$work/bad3" >&2; exit 1; }
echo "ok: tp=2, dp=2 (ZeRO-1) and pp=2 x virtual_stages=2 match one process (final loss $want," \
  "$want4 with 4 layers); overlapped reduction gives the same losses; bad layouts stop with a" \
  "message"
