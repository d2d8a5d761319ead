#!/usr/bin/env bash
# The Slurm scripts against a real one-node Slurm (slurm/lib/cluster.sh starts it under a temp
# folder): the tiny pipeline (tokenizer -> lm on 2 tasks via srun --mpi=pmix -> eval) runs in
# dependency order and the 2-task loss equals one process without Slurm; a layout that cannot fit
# fails before launching; a job signalled with USR1 mid-run checkpoints, requeues itself and ends
# with the same final loss as the uninterrupted run; the X-Omni study at the smoke scale with two
# seeds (two chains of 18 jobs side by side, then one report job over both seed folders) runs to
# its report.html. Exits 77 (skipped) when Slurm cannot start.
#   tests/slurm/test_slurm.sh XOMNI REPO
set -euo pipefail
xomni="$(realpath "$1")"
repo="$(realpath "$2")"
# shellcheck source=../../slurm/lib/cluster.sh
source "$repo/slurm/lib/cluster.sh"
work=$(mktemp -d /tmp/xomni-slurm-test.XXXXXX)
chmod 755 "$work"  # munged (user munge) must reach its folder inside
cleanup() {
  slurm_cluster_stop "$work/cluster" || true
  # XOMNI_SLURM_TEST_KEEP=1 keeps the logs, runs and Slurm state for a look afterwards.
  if [[ "${XOMNI_SLURM_TEST_KEEP:-0}" == 1 ]]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
start=$(date +%s)
if ! slurm_cluster_start "$work/cluster"; then
  echo "SKIPPED: a local Slurm could not be started (see the message above)"
  exit 77
fi
echo "slurm up in $(($(date +%s) - start)) s"

fail() {
  echo "FAIL: $*" >&2
  for f in "$work"/runs/logs/*.out; do
    [[ -f "$f" ]] && { echo "--- $f" >&2; tail -n 30 "$f" >&2; }
  done
  tail -n 20 "$work/cluster/log/slurmctld.log" >&2
  exit 1
}
export XOMNI_BIN="$xomni" XOMNI_RUN_ROOT="$work/runs" XOMNI_GPUS_PER_NODE=0 XOMNI_TIME=00:20:00
export XOMNI_SITE="$repo/slurm/site.sh"
# The jobs get their threads and Open MPI settings from the scripts (site.sh), as a user's would:
# nothing of the kind comes from this shell.
unset OMP_NUM_THREADS OMP_PROC_BIND OMP_PLACES OMPI_MCA_btl OMPI_MCA_pml OMPI_MCA_mpi_yield_when_idle
cd "$repo"

job_field() { scontrol show job "$1" | grep -o "$2=[^ ]*" | head -n 1 | cut -d= -f2; }
wait_jobs() {  # waits until none of the jobs is pending or running (at most $1 seconds)
  local limit="$1" t0
  shift
  t0=$(date +%s)
  while [[ -n "$(squeue -h -j "$(IFS=,; echo "$*")" -t PD,R,CG,CF,RQ,RS,S 2> /dev/null)" ]]; do
    (($(date +%s) - t0 < limit)) || fail "jobs $* still running after $limit s: $(squeue)"
    sleep 0.5
  done
}
final_loss() { grep -o 'final training loss [0-9.]*' "$1" | tail -n 1 | awk '{print $4}'; }
epoch() { date -d "$1" +%s; }

# 1. The pipeline: three jobs chained with afterok.
mapfile -t chain < <(slurm/submit_pipeline.sh slurm/pipelines/tiny.toml)
((${#chain[@]} == 3)) || fail "submit_pipeline printed ${#chain[@]} lines: ${chain[*]}"
read -r _ tok_id tok_dir <<< "${chain[0]}"
read -r _ lm_id lm_dir <<< "${chain[1]}"
read -r _ eval_id eval_dir <<< "${chain[2]}"
[[ "$(job_field "$lm_id" Dependency)" == "afterok:${tok_id}"* ]] ||
  fail "job $lm_id does not depend on $tok_id: $(job_field "$lm_id" Dependency)"
wait_jobs 150 "$tok_id" "$lm_id" "$eval_id"
for id in "$tok_id" "$lm_id" "$eval_id"; do
  [[ "$(job_field "$id" JobState)" == COMPLETED ]] || fail "job $id ended $(job_field "$id" JobState)"
done
((
  $(epoch "$(job_field "$lm_id" StartTime)") >= $(epoch "$(job_field "$tok_id" EndTime)") &&
  $(epoch "$(job_field "$eval_id" StartTime)") >= $(epoch "$(job_field "$lm_id" EndTime)")
)) || fail "the chain did not run in order"
lm_log="$work/runs/logs/xomni-tiny-lm0-$lm_id.out"
grep -q 'layout: tp=1 cp=1 pp=1 dp=2 over 2 tasks' "$lm_log" || fail "lm did not run dp=2 over 2 tasks"
grep -q 'threads: OMP_NUM_THREADS=1 per task .*MPI: OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader,tcp OMPI_MCA_mpi_yield_when_idle=1' \
  "$lm_log" || fail "lm ran without the site's threads and MPI settings"
ckpt=$(grep '^checkpoint=' "$lm_dir/outputs.env" | cut -d= -f2)
[[ "$ckpt" == "$lm_dir/checkpoints/ckpt-"*300.h5 && -f "$ckpt" ]] || fail "no final checkpoint: '$ckpt'"
grep -q '### prompt: This License applies to' "$eval_dir/samples.txt" || fail "eval wrote no samples"
echo "pipeline ok: jobs $tok_id -> $lm_id -> $eval_id"

# The same job in one process, without Slurm.
OMP_NUM_THREADS=1 "$xomni" train jobs/tiny/lm_slurm.toml --set "data.train=$tok_dir/text/train" --set "data.valid=$tok_dir/text/valid" \
  --set "run.dir=$work/runs" --set run.name=single > "$work/single.out" 2>&1 || fail "single run failed"
want=$(final_loss "$work/single.out")
got=$(final_loss "$lm_log")
[[ -n "$want" && -n "$got" ]] || fail "no final loss (2 tasks '$got', one process '$want')"
# dp=2 sums the loss and gradients in another order than one process: the first steps agree to
# float rounding (docs/PARALLEL.md: 1e-5 relative), then rounding differences grow slowly over
# 300 steps at this learning rate, so the final loss is compared at 0.5%.
losses() { grep -o '"step": [0-9]*, "loss": [0-9.e+-]*' "$1" | awk '{gsub(",", ""); print $2, $4}'; }
read -r early final < <(join <(losses "$work/runs/single/metrics.jsonl") <(losses "$lm_dir/metrics.jsonl") |
  awk '{d = ($2 - $3) / $2; if (d < 0) d = -d; if ($1 <= 20 && d > e) e = d; f = d} END {printf "%.3g %.3g\n", e, f}')
awk -v e="$early" -v f="$final" 'BEGIN {exit !(e <= 1e-5 && f <= 5e-3)}' ||
  fail "2 tasks vs one process: relative loss difference $early over steps 1-20, $final at step 300"
echo "2 tasks under srun: final loss $got; one process: $want (relative difference: <= $early over steps 1-20, $final at step 300)"

# 2. A layout that does not fit: submit.sh refuses it before sbatch; submitted around submit.sh
# (sbatch directly), the job stops before launching. Both name the numbers.
if err=$(slurm/submit.sh --parsable --ntasks=2 lm jobs/tiny/lm_slurm.toml --from "$tok_dir" --set parallel.tp=3 2>&1); then
  fail "submit.sh accepted tp=3 on 2 tasks"
fi
grep -q 'tp\*cp\*pp = 3\*1\*1 = 3 needs at least 3 tasks but the job has 2' <<< "$err" || fail "submit.sh: $err"
bad_id=$(sbatch --parsable --ntasks=2 "--output=$work/runs/logs/xomni-lm-%j.out" slurm/stages/lm.sbatch \
  jobs/tiny/lm_slurm.toml --from "$tok_dir" --set parallel.tp=3)
wait_jobs 60 "$bad_id"
[[ "$(job_field "$bad_id" JobState)" == FAILED ]] || fail "tp=3 on 2 tasks: $(job_field "$bad_id" JobState)"
grep -q 'tp\*cp\*pp = 3\*1\*1 = 3 needs at least 3 tasks but the job has 2' "$work/runs/logs/xomni-lm-$bad_id.out" ||
  fail "the tp=3 message is missing"
grep -q 'launching' "$work/runs/logs/xomni-lm-$bad_id.out" && fail "the tp=3 job launched"
echo "bad layout refused"

# 3. Preemption: USR1 to the batch shell (what --signal=B:USR1@T sends) mid-run.
pre_id=$(slurm/submit.sh --parsable --ntasks=2 lm jobs/tiny/lm_slurm.toml --from "$tok_dir")
# A dependent job must wait through the requeue and start only after the job really finished.
dep_id=$(slurm/submit.sh --parsable "--dependency=afterok:$pre_id" eval jobs/tiny/eval.toml \
  --from "$work/runs/lm-$pre_id")
metrics="$work/runs/lm-$pre_id/metrics.jsonl"
for _ in $(seq 600); do
  [[ -f "$metrics" ]] && (($(wc -l < "$metrics") >= 20)) && break
  sleep 0.1
done
[[ "$(job_field "$pre_id" JobState)" == RUNNING ]] || fail "job $pre_id is not running before the signal"
scancel --batch --signal=USR1 "$pre_id"
# Slurm holds a requeued batch job back for a while (reason BeginTime); release it at once here.
for _ in $(seq 300); do
  [[ "$(job_field "$pre_id" Restarts)" == 1 && "$(job_field "$pre_id" JobState)" == PENDING ]] && break
  sleep 0.1
done
echo "requeued job $pre_id: $(job_field "$pre_id" JobState) ($(job_field "$pre_id" Reason)," \
  "eligible at $(job_field "$pre_id" StartTime))"
# Not before slurmd is done with the first run: a relaunch that comes too soon is refused ("Job N
# already killed, do not launch batch job"), which is what Slurm's delay guards against.
for _ in $(seq 100); do
  [[ "$(sinfo -h -o %T)" == idle ]] && break
  sleep 0.2
done
sleep 3
scontrol update "JobId=$pre_id" StartTime=now
wait_jobs 120 "$pre_id" "$dep_id"
pre_log="$work/runs/logs/xomni-lm-$pre_id.out"
[[ "$(job_field "$pre_id" JobState)" == COMPLETED ]] || fail "preempted job ended $(job_field "$pre_id" JobState)"
[[ "$(job_field "$pre_id" Restarts)" == 1 ]] || fail "preempted job restarted $(job_field "$pre_id" Restarts) times"
grep -q 'requeueing job' "$pre_log" || fail "no requeue in the log"
grep -q 'resuming from .*ckpt-' "$pre_log" || fail "the requeued job did not resume from a checkpoint"
stopped=$(grep -o 'resuming from .*(step [0-9]*)' "$pre_log" | grep -o 'step [0-9]*' | head -n 1)
pre_loss=$(final_loss "$pre_log")
# The uninterrupted run is the pipeline's 2-task job: same job file, data and layout. Every
# step's loss (9 digits in metrics.jsonl) must be the same, before and after the requeue.
[[ "$pre_loss" == "$got" ]] || fail "preempted + requeued final loss '$pre_loss', uninterrupted '$got'"
cmp <(losses "$lm_dir/metrics.jsonl") <(losses "$work/runs/lm-$pre_id/metrics.jsonl") ||
  fail "the preempted run's loss curve differs from the uninterrupted one"
[[ "$(job_field "$dep_id" JobState)" == COMPLETED ]] || fail "the dependent job ended $(job_field "$dep_id" JobState)"
(($(epoch "$(job_field "$dep_id" StartTime)") >= $(epoch "$(job_field "$pre_id" EndTime)"))) ||
  fail "the dependent job started before the requeued job finished"
echo "preempted at $stopped, requeued, final loss $pre_loss (uninterrupted $got)"
# 4. A scaling sweep (a job array: one element per layout) and its report.
sweep=$(slurm/scaling_sweep.sh --nodes 1 --tasks-per-node 2 --layout tp=1 --layout tp=2 --steps 20 \
  jobs/tiny/lm_slurm.toml --set "data.train=$tok_dir/text/train" --set data.valid= --set train.checkpoint_every=0)
arr=$(sed -n 's/^nodes=1: array job \([0-9]*\) .*/\1/p' <<< "$sweep")
[[ -n "$arr" ]] || fail "sweep: $sweep"
wait_jobs 120 "$arr"
"$xomni" report scaling "$work/runs/lm-${arr}_0" "$work/runs/lm-${arr}_1" --peak-flops 210e9 \
  --png "$work/scaling.png" > "$work/scaling.md" || fail "report: $(cat "$work/scaling.md")"
cat "$work/scaling.md"
for tp in 1 2; do
  grep -q "^| 1 | 2 | tp=$tp cp=1 pp=1 | strong | 18 |" "$work/scaling.md" || fail "sweep report, tp=$tp"
done
[[ -s "$work/scaling.png" ]] || fail "no scaling plot"

# 5. The X-Omni study at the smoke scale with two seeds: two chains (one task a job, so they run
# side by side on 2 cores), then one report job after both chains' last jobs, over the study
# folder in which every stage recorded itself (seed-K/study.json, seed-K/STAGE links).
t5=$(date +%s)
mapfile -t jobs < <(slurm/submit_pipeline.sh --seeds 2 --study-root "$work/runs/study" slurm/pipelines/xomni_smoke.toml)
((${#jobs[@]} == 37)) || fail "the study's submission printed ${#jobs[@]} lines, not 2 x 18 + 1: ${jobs[*]}"
ids=()
for line in "${jobs[@]}"; do
  read -r what id _ <<< "$line"
  ids+=("$id")
  [[ "$what" == seed-1/eval-rl ]] && last1=$id
  [[ "$what" == seed-2/eval-rl ]] && last2=$id
done
read -r what report_id report_dir <<< "${jobs[36]}"
[[ "$what" == report ]] || fail "the last job is not the report: ${jobs[36]}"
dep=$(job_field "$report_id" Dependency)
[[ "$dep" == *"afterok:$last1"* && "$dep" == *"$last2"* ]] ||
  fail "the report job does not wait for both chains' last jobs ($last1, $last2): $dep"
wait_jobs 420 "${ids[@]}"
for id in "${ids[@]}"; do
  [[ "$(job_field "$id" JobState)" == COMPLETED ]] || fail "study job $id ended $(job_field "$id" JobState)"
done
(($(epoch "$(job_field "$report_id" StartTime)") >= $(epoch "$(job_field "$last1" EndTime)") &&
  $(epoch "$(job_field "$report_id" StartTime)") >= $(epoch "$(job_field "$last2" EndTime)"))) ||
  fail "the report started before both chains ended"
[[ -s "$report_dir/report/report.html" ]] || fail "the report job wrote no report.html"
grep -qF 'study`, 2 seeds.' "$report_dir/report/report.md" || fail "the report is not over both seeds: $(head -n 5 "$report_dir/report/report.md")"
for k in 1 2; do
  sd="$work/runs/study/seed-$k"
  [[ $(grep -c '"status": "done"' "$sd/study.json") == 18 ]] || fail "seed $k: study.json: $(cat "$sd/study.json")"
  grep -qxF '  "seed": '"$k"',' "$sd/study.json" || fail "seed $k: study.json names another seed"
  [[ -f "$sd/rl/checkpoints/ckpt-00000002.h5" && -f "$sd/eval-rl/results.json" && -f "$sd/bon/bon.json" &&
    -f "$sd/codec-eval/results.json" ]] ||
    fail "seed $k: the seed folder lacks rl's checkpoint, eval-rl's or codec-eval's results or bon.json: $(ls -l "$sd")"
done
# The seeds reached the training runs: lm0 starts from other weights in each chain.
first_loss() { grep -o '"loss": [0-9.e+-]*' "$1" | head -n 1; }
l1=$(first_loss "$work/runs/study/seed-1/lm0/metrics.jsonl")
l2=$(first_loss "$work/runs/study/seed-2/lm0/metrics.jsonl")
[[ -n "$l1" && "$l1" != "$l2" ]] || fail "lm0 of seed 1 and seed 2 start with the same loss ($l1, $l2)"
echo "study: 2 seeds x 18 jobs and a report in $(($(date +%s) - t5)) s: $report_dir/report/report.html"
echo "ok: slurm test passed in $(($(date +%s) - start)) s"
