#!/usr/bin/env bash
# The Slurm scripts without a cluster: bash -n and shellcheck on every script, the TOML reader,
# the dry runs of submit.sh / submit_pipeline.sh / scaling_sweep.sh (commands, dependencies,
# refusal of stages that do not exist yet), and `xomni report scaling` on run directories with
# known numbers.
#   tests/slurm/test_scripts.sh XOMNI REPO
set -euo pipefail
xomni="$(realpath "$1")"
repo="$(realpath "$2")"
cd "$repo"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
mapfile -t scripts < <(find slurm tests/slurm -name '*.sh' -o -name '*.sbatch' | sort)
((${#scripts[@]} >= 10)) || fail "found only ${#scripts[@]} scripts: ${scripts[*]}"
for s in "${scripts[@]}"; do bash -n "$s" || fail "bash -n $s"; done
command -v shellcheck > /dev/null || fail "shellcheck is not installed (scripts/install_deps.sh)"
shellcheck -x -P SCRIPTDIR "${scripts[@]}" || fail "shellcheck found problems"
echo "bash -n and shellcheck clean on ${#scripts[@]} scripts"

# The TOML reader: sections, comments (not inside strings), multi-line arrays, absent keys.
export XOMNI_SLURM_DIR="$repo/slurm" XOMNI_RUN_ROOT="$work/runs" XOMNI_GPUS_PER_NODE=0
# shellcheck source=../../slurm/lib/common.sh
source slurm/lib/common.sh
cat > "$work/t.toml" <<'TOML'
top = 1
[a]
s = "x # not a comment"  # a comment
n = 42
list = [
  "p q",  # first
  "r",
]
[a.b]
n = 7
TOML
[[ "$(toml_get "$work/t.toml" top)" == 1 ]] || fail "toml_get top"
[[ "$(toml_get "$work/t.toml" a.s)" == "x # not a comment" ]] || fail "toml_get a.s: $(toml_get "$work/t.toml" a.s)"
[[ "$(toml_get "$work/t.toml" a.b.n)" == 7 && "$(toml_get "$work/t.toml" a.n)" == 42 ]] || fail "toml_get a.b.n"
[[ "$(toml_list "$(toml_get "$work/t.toml" a.list)" | paste -sd '|')" == "p q|r" ]] || fail "toml_list"
! toml_get "$work/t.toml" a.missing > /dev/null || fail "absent key found"
[[ "$(job_value "$work/t.toml" a.n 0 a.n=5 a.n=6)" == 6 && "$(job_value "$work/t.toml" a.zz 9)" == 9 ]] ||
  fail "job_value"

# Dry runs: the pipeline's sbatch commands, chained with afterok and --from.
out=$(slurm/submit_pipeline.sh --dry-run slurm/pipelines/tiny.toml)
out=${out//\\\$/\$}  # printf %q wrote the job-id placeholders as \$JOB_...
[[ $(grep -c '^sbatch ' <<< "$out") == 3 ]] || fail "pipeline dry run: $out"
has_all() {  # TEXT PIECE...: every piece occurs in one line of TEXT, in this order
  local text="$1" re=""
  shift
  for p in "$@"; do re+="${re:+.*}$(printf '%s' "$p" | sed 's/[][\\.*^$/]/\\&/g')"; done
  grep -q -- "$re" <<< "$text"
}
has_all "$out" --ntasks=2 "--dependency=afterok:\$JOB_tokenizer" "lm.sbatch jobs/tiny/lm_slurm.toml --from" \
  "/tokenizer-\$JOB_tokenizer" || fail "lm0 does not depend on the tokenizer: $out"
has_all "$out" "--dependency=afterok:\$JOB_lm0" "eval.sbatch jobs/tiny/eval.toml --from" \
  "/lm-\$JOB_lm0" || fail "eval does not depend on lm0: $out"
sed 's/^stages = .*/stages = ["data", "tokenizer", "lm0", "eval"]/' slurm/pipelines/tiny.toml > "$work/p.toml"
if err=$(slurm/submit_pipeline.sh --dry-run "$work/p.toml" 2>&1); then fail "a missing stage was accepted"; fi
grep -q "stage 'data' does not exist yet (no slurm/stages/data.sbatch); remove it" <<< "$err" || fail "$err"
out=$(slurm/submit_pipeline.sh --dry-run --skip-missing "$work/p.toml" 2>&1)
grep -q "skipping stage 'data' does not exist yet" <<< "$out" || fail "--skip-missing: $out"
[[ $(grep -c '^sbatch ' <<< "$out") == 3 ]] || fail "--skip-missing: $out"
sed 's/^stages = .*/stages = ["eval", "tokenizer"]/' slurm/pipelines/tiny.toml > "$work/p.toml"
if err=$(slurm/submit_pipeline.sh --dry-run "$work/p.toml" 2>&1); then fail "out of order accepted"; fi
grep -q "stage 'tokenizer' is out of order" <<< "$err" || fail "$err"
if err=$(slurm/submit.sh --dry-run data jobs/tiny/lm.toml 2>&1); then fail "submit.sh data accepted"; fi
grep -q "stage 'data' does not exist yet" <<< "$err" || fail "$err"
# Site settings reach sbatch; a GPU site asks for one task per GPU.
out=$(XOMNI_ACCOUNT=acct XOMNI_PARTITION=gpu XOMNI_QOS=hi XOMNI_GPUS_PER_NODE=4 \
  slurm/submit.sh --dry-run --nodes=2 lm jobs/tiny/lm_slurm.toml --set train.steps=5 --set train.batch_size=8)
for want in --account=acct --partition=gpu --qos=hi --ntasks-per-node=4 --gpus-per-node=4 \
  '--signal=B:USR1@300' --nodes=2 'lm.sbatch jobs/tiny/lm_slurm.toml --set train.steps=5'; do
  grep -q -- "$want" <<< "$out" || fail "submit.sh dry run lacks $want: $out"
done
# Weak scaling multiplies the global batch by the node count; one array element per layout.
out=$(slurm/scaling_sweep.sh --dry-run --mode weak --nodes 1,4 --tasks-per-node 2 --layout tp=1 --layout tp=2 jobs/tiny/lm_slurm.toml)
grep -q -- "--nodes=4 .*--array=0-1 .*--set train.batch_size=16" <<< "$out" || fail "weak sweep: $out"
grep -q "XOMNI_ARRAY_SETS='train.steps=50,parallel.tp=1;train.steps=50,parallel.tp=2'" <<< "$out" ||
  fail "sweep layouts: $out"
# --plan-top K: the K layouts `xomni plan --sweep-layouts` ranks fastest on the smallest node count
# (2 x cpu here) become the array's elements, keys with a section kept as they are.
out=$(XOMNI_BIN="$xomni" slurm/scaling_sweep.sh --dry-run --nodes 1,2 --tasks-per-node 2 --plan-top 2 \
  --plan-device cpu jobs/tiny/lm_slurm.toml)
mapfile -t planned < <("$xomni" plan jobs/tiny/lm_slurm.toml --devices 2 --nodes-of 2 --device cpu --sweep-layouts 2)
((${#planned[@]} == 2)) || fail "plan --sweep-layouts 2 printed ${#planned[@]} lines: ${planned[*]}"
want=""
for l in "${planned[@]}"; do
  g="train.steps=50"
  IFS=, read -ra kvs <<< "$l"
  for kv in "${kvs[@]}"; do [[ "$kv" == *.*=* ]] && g+=",$kv" || g+=",parallel.$kv"; done
  want+="${want:+;}$g"
done
grep -qF "XOMNI_ARRAY_SETS='$want'" <<< "$out" || fail "--plan-top layouts (want $want): $out"
[[ "$want" == *model.checkpoint_layers=* && "$want" != *parallel.model.* ]] || fail "section keys: $want"

# Submission checks (submit.sh and scaling_sweep.sh, xomni_check_submission in lib/common.sh):
# each refusal names the file or key and the numbers, and nothing reaches sbatch. A stub sbatch
# records any call; a stub sinfo stands for a cluster whose default partition has 2 nodes.
mkdir -p "$work/bin"
printf '#!/bin/sh\necho "$@" >> %s/sbatch.calls\necho 99\n' "$work" > "$work/bin/sbatch"
printf '#!/bin/sh\nprintf "debug* 1\\nbig 4\\ndebug* 1\\n"\n' > "$work/bin/sinfo"
chmod +x "$work/bin/sbatch" "$work/bin/sinfo"
refused() {  # refused MESSAGE CMD...: CMD fails, its stderr holds MESSAGE, sbatch was not called
  local want="$1" err
  shift
  rm -f "$work/sbatch.calls"
  if err=$(PATH="$work/bin:$PATH" "$@" 2>&1); then fail "accepted: $* ($err)"; fi
  grep -qF -- "$want" <<< "$err" || fail "$*: expected '$want', got: $err"
  [[ ! -e "$work/sbatch.calls" ]] || fail "$*: sbatch was called: $(cat "$work/sbatch.calls")"
}
refused "lm: job file 'jobs/tiny/nope.toml' not found" slurm/submit.sh --ntasks=2 lm jobs/tiny/nope.toml
refused "job file 'jobs/tiny/nope.toml' not found" slurm/scaling_sweep.sh jobs/tiny/nope.toml
refused "give --layout or --plan-top, not both" slurm/scaling_sweep.sh --plan-top 2 --layout tp=1 jobs/tiny/lm_slurm.toml
refused "jobs/tiny/lm_slurm.toml: tp*cp*pp = 4*1*1 = 4 needs at least 4 tasks but the job has 2" \
  slurm/submit.sh --ntasks=2 lm jobs/tiny/lm_slurm.toml --set parallel.tp=4
refused "tp*cp*pp = 2*1*1 = 2 needs at least 2 tasks but the job has 1" \
  slurm/submit.sh --nodes=1 lm jobs/tiny/lm_slurm.toml --set parallel.tp=2
refused "tp*cp*pp = 2*1*1 = 2 does not divide the 3 tasks" \
  slurm/submit.sh --nodes=1 --ntasks-per-node=3 lm jobs/tiny/lm_slurm.toml --set=parallel.tp=2
refused "train.batch_size=4 does not split over dp=8" slurm/submit.sh --ntasks=8 lm jobs/tiny/lm_slurm.toml
refused "pp=2 splits the input embedding (first stage) from the output head (last stage), so they cannot be tied; set model.tie_word_embeddings = false" \
  slurm/submit.sh --ntasks=2 lm jobs/tiny/lm_slurm.toml --set parallel.pp=2
refused "pp=4 pipeline stages but model.num_hidden_layers=2" \
  slurm/submit.sh --ntasks=4 lm jobs/tiny/lm_slurm.toml --set parallel.pp=4 --set model.tie_word_embeddings=false
refused "--nodes=3 but partition 'debug' has 2 node(s) (sinfo); ask for at most 2" \
  slurm/submit.sh --nodes=3 lm jobs/tiny/lm_slurm.toml
refused "--nodes=3 but partition 'debug' has 2 node(s)" slurm/submit.sh --nodes=2-3 lm jobs/tiny/lm_slurm.toml
refused "partition 'nope' does not exist (sinfo lists: big debug)" \
  slurm/submit.sh --nodes=1 --partition=nope lm jobs/tiny/lm_slurm.toml
refused "tp*cp*pp = 4*1*1 = 4 needs at least 4 tasks but the job has 2" \
  slurm/scaling_sweep.sh --nodes 1,4 --tasks-per-node 2 --layout tp=1 --layout tp=4 jobs/tiny/lm_slurm.toml
refused "(in array element 1: train.steps=50,parallel.tp=4)" \
  slurm/scaling_sweep.sh --nodes 1,4 --tasks-per-node 2 --layout tp=1 --layout tp=4 jobs/tiny/lm_slurm.toml
refused "the 1-node array would be refused (above); nothing submitted" \
  slurm/scaling_sweep.sh --nodes 1,4 --tasks-per-node 2 --layout tp=1 --layout tp=4 jobs/tiny/lm_slurm.toml
refused "--nodes=4 but partition 'debug' has 2 node(s)" \
  slurm/scaling_sweep.sh --nodes 1,2,4 --tasks-per-node 2 jobs/tiny/lm_slurm.toml
refused "so they cannot be tied" slurm/scaling_sweep.sh --nodes 1 --tasks-per-node 2 --layout pp=2 jobs/tiny/lm_slurm.toml
sed 's/^sbatch = \["--ntasks=2"/sbatch = ["--ntasks=3"/' slurm/pipelines/tiny.toml > "$work/p3.toml"
refused "train.batch_size=4 does not split over dp=3" slurm/submit_pipeline.sh "$work/p3.toml"
refused "a stage would be refused (above); nothing submitted" slurm/submit_pipeline.sh "$work/p3.toml"
# What fits goes through: the layout the sweep's element sets counts, not the job file's alone.
rm -f "$work/sbatch.calls"
PATH="$work/bin:$PATH" slurm/submit.sh --nodes=4 --partition=big lm jobs/tiny/lm_slurm.toml \
  --set train.batch_size=8 > /dev/null || fail "4 nodes of partition big refused"
PATH="$work/bin:$PATH" slurm/scaling_sweep.sh --nodes 1,2 --tasks-per-node 2 --layout tp=2 --layout pp=2,tp=1 \
  jobs/tiny/lm_slurm.toml --set model.tie_word_embeddings=false > /dev/null || fail "a sweep that fits was refused"
[[ $(wc -l < "$work/sbatch.calls") == 3 ]] || fail "sbatch calls: $(cat "$work/sbatch.calls")"

# Threads and MPI settings of every task (stage_runtime_env, lib/stage.sh): OMP_NUM_THREADS from
# the job's CPUs per task whatever the submitting shell had, the site's Open MPI settings unless
# the environment sets them; srun gets --cpus-per-task and --cpu-bind; task.sh pins OpenMP
# threads only inside a task Slurm pinned.
runtime() { (  # runtime VAR=VALUE...: the OMP_NUM_THREADS and OMPI_MCA_* lines a task would see
  unset OMPI_MCA_pml OMPI_MCA_btl OMPI_MCA_mpi_yield_when_idle XOMNI_THREADS_PER_TASK XOMNI_MPI_MCA
  local kv
  # shellcheck disable=SC2030  # on purpose: only this subshell's environment
  export SLURM_JOB_ID=7
  for kv in "$@"; do export "${kv?}"; done
  # shellcheck source=../../slurm/lib/stage.sh
  source slurm/lib/stage.sh
  xomni_load_site
  STAGE_NAME=t
  stage_runtime_env > /dev/null
  env | grep -E '^(OMP_NUM_THREADS|OMPI_MCA_[a-z_]*)=' | sort | paste -sd ' '
) }
want="OMPI_MCA_btl=self,vader,tcp OMPI_MCA_mpi_yield_when_idle=1 OMPI_MCA_pml=ob1 OMP_NUM_THREADS=3"
[[ "$(runtime SLURM_CPUS_PER_TASK=3 OMP_NUM_THREADS=16)" == "$want" ]] ||
  fail "runtime env: $(runtime SLURM_CPUS_PER_TASK=3 OMP_NUM_THREADS=16)"
[[ "$(runtime OMP_NUM_THREADS=16)" == *" OMP_NUM_THREADS=1" ]] || fail "no --cpus-per-task: $(runtime OMP_NUM_THREADS=16)"
[[ "$(runtime SLURM_CPUS_PER_TASK=3 XOMNI_THREADS_PER_TASK=2)" == *" OMP_NUM_THREADS=2" ]] ||
  fail "XOMNI_THREADS_PER_TASK: $(runtime SLURM_CPUS_PER_TASK=3 XOMNI_THREADS_PER_TASK=2)"
[[ "$(runtime OMPI_MCA_pml=ucx)" == *"OMPI_MCA_pml=ucx "* ]] || fail "the environment's OMPI_MCA_pml lost"
[[ "$(runtime "XOMNI_MPI_MCA=mpi_yield_when_idle=1")" == "OMPI_MCA_mpi_yield_when_idle=1 OMP_NUM_THREADS=1" ]] ||
  fail "XOMNI_MPI_MCA: $(runtime "XOMNI_MPI_MCA=mpi_yield_when_idle=1")"
if err=$(runtime XOMNI_MPI_MCA=pml 2>&1); then fail "XOMNI_MPI_MCA=pml accepted"; fi
grep -q "XOMNI_MPI_MCA: 'pml' is not NAME=VALUE" <<< "$err" || fail "$err"
if err=$(runtime XOMNI_THREADS_PER_TASK=0 2>&1); then fail "0 threads accepted"; fi
grep -q "threads per task must be a positive integer, got '0'" <<< "$err" || fail "$err"
printf '#!/bin/sh\necho "srun $*"\n' > "$work/bin/srun"
# shellcheck disable=SC2016  # expands when the stub runs
printf '#!/bin/sh\necho "TaskPlugin              = ${TASK_PLUGIN:-task/affinity}"\n' > "$work/bin/scontrol"
chmod +x "$work/bin/srun" "$work/bin/scontrol"
launched() { (  # launched VAR=VALUE...: the srun command line stage_run builds
  local kv
  # shellcheck disable=SC2031  # on purpose: only this subshell's environment
  export PATH="$work/bin:$PATH" SLURM_JOB_ID=7 SLURM_NTASKS=2
  for kv in "$@"; do export "${kv?}"; done
  # shellcheck source=../../slurm/lib/stage.sh
  source slurm/lib/stage.sh
  xomni_load_site
  STAGE_NAME=t STAGE_NTASKS=2
  stage_runtime_env > /dev/null
  stage_run true 2> /dev/null
) }
[[ "$(launched SLURM_CPUS_PER_TASK=3)" == "srun --mpi=pmix --ntasks=2 --kill-on-bad-exit=1 --cpus-per-task=3 --cpu-bind=cores $repo/slurm/lib/task.sh true" ]] ||
  fail "srun: $(launched SLURM_CPUS_PER_TASK=3)"
[[ "$(launched XOMNI_CPU_BIND=none)" == "srun --mpi=pmix --ntasks=2 --kill-on-bad-exit=1 --cpu-bind=none $repo/slurm/lib/task.sh true" ]] ||
  fail "srun: $(launched XOMNI_CPU_BIND=none)"
[[ "$(launched TASK_PLUGIN=task/none)" == "srun --mpi=pmix --ntasks=2 --kill-on-bad-exit=1 $repo/slurm/lib/task.sh true" ]] ||
  fail "srun on a cluster that cannot bind: $(launched TASK_PLUGIN=task/none)"
if (($(nproc --all) > 1)); then
  bound=$(env -u OMP_PROC_BIND -u OMP_PLACES taskset -c 0 slurm/lib/task.sh env | grep '^OMP_P' | sort | paste -sd ' ')
  [[ "$bound" == "OMP_PLACES=cores OMP_PROC_BIND=close" ]] || fail "a pinned task's threads: '$bound'"
  unbound=$(env -u OMP_PROC_BIND -u OMP_PLACES taskset -c "0-$(($(nproc --all) - 1))" slurm/lib/task.sh env | grep -c '^OMP_P' || true)
  [[ "$unbound" == 0 ]] || fail "an unpinned task's threads were pinned"
fi

# The sandbox's commands without starting it (the Slurm test starts the same cluster for real).
export XOMNI_DEV_CLUSTER_DIR="$work/sandbox"
if out=$(slurm/dev_cluster.sh status 2>&1); then fail "status of a sandbox never started: $out"; fi
[[ "$out" == "not running (folder $work/sandbox)" ]] || fail "status: $out"
[[ "$(slurm/dev_cluster.sh env)" == "export SLURM_CONF=$work/sandbox/slurm.conf" ]] || fail "env"
slurm/dev_cluster.sh --help | grep -q 'slurm/dev_cluster.sh start' || fail "--help"
if slurm/dev_cluster.sh launch > /dev/null 2>&1; then fail "unknown command accepted"; fi
unset XOMNI_DEV_CLUSTER_DIR
echo "dry runs ok"

# xomni report scaling: medians after the warm-up steps, efficiency against the smallest run,
# MFU against the peak in launch.env.
mk_run() {  # DIR NODES TASKS "tokens flops" ...
  local dir="$1" nodes="$2" tasks="$3"
  shift 3
  mkdir -p "$dir"
  printf 'nodes=%s\ntasks=%s\ntp=1\ncp=1\npp=1\npeak_flops_per_device=1e14\nscaling=strong\n' \
    "$nodes" "$tasks" > "$dir/launch.env"
  local i=0 t
  for t in "$@"; do
    i=$((i + 1))
    echo "{\"step\": $i, \"loss\": 5, \"lr\": 0.1, \"grad_norm\": 1, \"tokens_per_s\": ${t% *}, \"flops_per_s\": ${t#* }}"
  done > "$dir/metrics.jsonl"
  echo '{"step": 9, "eval_loss": 4}' >> "$dir/metrics.jsonl"
}
mk_run "$work/r1" 1 4 "1 1" "5 5" "100 1e14" "110 1.1e14" "90 0.9e14"
mk_run "$work/r2" 2 8 "1 1" "5 5" "180 1.8e14" "170 1.7e14" "190 1.9e14" "185 1.85e14"
"$xomni" report scaling "$work/r2" "$work/r1" --png "$work/s.png" --csv "$work/s.csv" > "$work/table"
grep -q "| 1 | 4 | tp=1 cp=1 pp=1 | strong | 3 | 100.0 | 100 | 1.000 | 100 | 25.00 |" "$work/table" ||
  fail "report row 1: $(cat "$work/table")"
grep -q "| 2 | 8 | tp=1 cp=1 pp=1 | strong | 4 | 182.5 | 182.5 | 0.912 | 100 | 22.81 |" "$work/table" ||
  fail "report row 2: $(cat "$work/table")"
grep -q '^peak FLOP/s per device: launch.env$' "$work/table" || fail "peak source: $(cat "$work/table")"
[[ "$(head -c 8 "$work/s.png" | od -An -tx1 | tr -d ' \n')" == 89504e470d0a1a0a ]] || fail "no PNG"
grep -q '^2,8,tp=1 cp=1 pp=1,strong,4,182.5,1.825e+14,1e+14,0.9125,22.8125,' "$work/s.csv" || fail "csv"
"$xomni" report scaling "$work/r1" --peak-flops 5e13 | grep -q '| 50 | 50.00 |' || fail "--peak-flops"
"$xomni" report scaling "$work/r1" --peak-tflops 50 | grep -q '| 50 | 50.00 |' || fail "--peak-tflops"
if err=$("$xomni" report scaling "$work/r1" --peak-tflops -1 2>&1); then fail "negative peak accepted"; fi
grep -q 'must be a positive number' <<< "$err" || fail "negative peak: $err"
# A failed array element (no metrics.jsonl, or no step after the warm-up) is skipped with a
# warning naming it; the others are still reported. Nothing readable at all is an error.
mkdir -p "$work/r3"
cp "$work/r1/launch.env" "$work/r3/"
mk_run "$work/r4" 1 2 "1 1"
"$xomni" report scaling "$work/r1" "$work/r3" "$work/r4" > "$work/table" 2> "$work/err" ||
  fail "one failed element failed the report: $(cat "$work/err")"
grep -q "warning: skipping $work/r3: $work/r3/metrics.jsonl not found" "$work/err" || fail "r3: $(cat "$work/err")"
grep -q "warning: skipping $work/r4: $work/r4/metrics.jsonl has 1 step lines, none left" "$work/err" ||
  fail "r4: $(cat "$work/err")"
grep -q "| 1 | 4 | tp=1 cp=1 pp=1 | strong | 3 | 100.0 |" "$work/table" || fail "r1 lost: $(cat "$work/table")"
grep -q "skipped 2 run(s) that could not be read: $work/r3 $work/r4" "$work/table" || fail "$(cat "$work/table")"
if err=$("$xomni" report scaling "$work/r3" 2>&1); then fail "no readable run accepted"; fi
grep -q 'none of the 1 run directories could be read' <<< "$err" || fail "$err"
# A CPU run (gpus_per_node=0, 2 threads a task) whose launch.env carries the GPU default peak
# that older site files wrote: MFU is against the CPU peak (2 x 210 GFLOP/s per task), never
# 0.0000 against 989 TFLOP/s. A run without launch.env has no peak: MFU "-", not 0.
mk_run "$work/c1" 1 2 "1 1" "5 5" "100 2.1e11" "100 2.1e11"
printf 'gpus_per_node=0\nthreads=2\npeak_flops_per_device=989e12\n' >> "$work/c1/launch.env"
sed -i '/^peak_flops_per_device=1e14$/d' "$work/c1/launch.env"
"$xomni" report scaling "$work/c1" > "$work/table" 2> "$work/err"
grep -q "| 1 | 2 | tp=1 cp=1 pp=1 | strong | 2 | 100.0 | 0.21 | 1.000 | 0.42 | 25.00 |" "$work/table" ||
  fail "CPU run: $(cat "$work/table")"
grep -q "peak FLOP/s per device: CPU default: 2 core(s) x 210 GFLOP/s FP32" "$work/table" || fail "$(cat "$work/table")"
grep -q "is a GPU's but the run was on CPUs" "$work/err" || fail "no warning: $(cat "$work/err")"
mk_run "$work/c2" 1 1 "1 1" "5 5" "100 2.1e9"
rm "$work/c2/launch.env"
"$xomni" report scaling "$work/c2" > "$work/table"
grep -q "| 1 | 1 | tp=1 cp=1 pp=1 | - | 1 | 100.0 | 0.0021 | 1.000 | - | - |" "$work/table" ||
  fail "no launch.env: $(cat "$work/table")"
grep -q "unknown (no launch.env): MFU not shown; give --peak-tflops" "$work/table" || fail "$(cat "$work/table")"
# Small MFU keeps its digits.
"$xomni" report scaling "$work/c2" --peak-tflops 100 | grep -q '| 100 | 0.0021 |' || fail "small MFU"
# Predicted beside measured: a run with its config.toml is predicted by the step model on its own
# layout (tp from launch.env, dp the rest of its 4 tasks) and device (gpus_per_node=0: cpu); the
# numbers are what `xomni plan --layout` gives for that job and layout, the error is against the
# measured median, the peak RSS the largest peak_rss_mib logged.
mk_run "$work/p1" 1 4 "1 1" "5 5" "1000 1e12" "1000 1e12"
sed -i 's/^tp=1$/tp=2/; /^peak_flops_per_device=/d' "$work/p1/launch.env"
printf 'gpus_per_node=0\nthreads=1\n' >> "$work/p1/launch.env"
sed -i 's/"flops_per_s": 1e12/&, "peak_rss_mib": 300/; 3s/"peak_rss_mib": 300/"peak_rss_mib": 310/' "$work/p1/metrics.jsonl"
cp jobs/tiny/lm.toml "$work/p1/config.toml"
"$xomni" report scaling "$work/p1" --csv "$work/p.csv" --png "$work/p.png" > "$work/table"
"$xomni" plan jobs/tiny/lm.toml --devices 4 --device cpu --layout tp=2,cp=1,pp=1 --json "$work/plan.json" > /dev/null
read -r want_tok want_err want_mib < <(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
t = d["tokens_per_s"]
print("%.1f %+.1f %.1f" % (t, 100 * (t - 1000) / 1000, d["memory_bytes"]["total"] / 1048576))' "$work/plan.json")
grep -qF "| $want_tok | $want_err | 310.0 | $want_mib | $work/p1 |" "$work/table" ||
  fail "prediction row (want $want_tok $want_err 310.0 $want_mib): $(cat "$work/table")"
grep -q "^predicted by the step model (docs/SCALING.md) on cpu$" "$work/table" || fail "$(cat "$work/table")"
grep -q ",$work/p1,.*,310,.*,cpu$" "$work/p.csv" || fail "prediction csv: $(cat "$work/p.csv")"
# --device overrides launch.env's; a run without config.toml, or whose layout does not divide its
# devices, says why it has no prediction.
"$xomni" report scaling "$work/p1" --device h100 | grep -q "on h100$" || fail "--device h100"
if err=$("$xomni" report scaling "$work/p1" --device tpu 2>&1); then fail "--device tpu accepted"; fi
grep -q "tpu" <<< "$err" || fail "--device tpu: $err"
grep -q "no prediction for $work/c2: $work/c2/config.toml not found" <<< "$("$xomni" report scaling "$work/c2")" ||
  fail "no config.toml"
echo "report scaling ok"
