# shellcheck shell=bash
# The body every stage script shares. A stage script (slurm/stages/NAME.sbatch) sources this file,
# calls stage_init NAME "$@", builds its xomni command and calls stage_run; see lm.sbatch.
#
# Arguments of every stage script:
#   JOB.toml            the stage's job file
#   --set KEY=VALUE     overrides for the job file (repeatable)
#   --from DIR          the previous stage's run directory (its outputs.env names what it made)
#   --run-dir DIR       run directory (default: $XOMNI_RUN_ROOT/NAME-JOBID; a requeued job keeps
#                       its id, so it finds its own checkpoints again)
#   --seed K            the study's seed: run.seed of a training run, --seed of the commands that
#                       take one (each script says); without it the job file's own seed serves
#   --seed-dir DIR --as NAME
#                       the seed folder of a study (submit_pipeline.sh): on success the stage
#                       links DIR/NAME to its run directory and rewrites DIR/study.json
#   -- ARGS...          extra arguments for the stage's xomni command (each script says which)
#
# Each stage writes DIR/launch.env (the allocation and layout) and, when it succeeds,
# DIR/outputs.env: KEY=VALUE lines naming what later stages read (tokenizer, data_train,
# data_valid, images, checkpoint with checkpoint_stage, the stage that wrote it), starting from
# the previous stage's outputs.env (a later line of the same key wins).

# Exit status of xomni after a signal made it save a checkpoint (train::kExitStoppedWithCheckpoint).
readonly XOMNI_EXIT_CHECKPOINTED=3

XOMNI_SLURM_DIR="${XOMNI_SLURM_DIR:-${SLURM_SUBMIT_DIR:-$PWD}/slurm}"
# shellcheck source=common.sh
source "$XOMNI_SLURM_DIR/lib/common.sh"

stage_init() {
  STAGE_NAME="$1"
  shift
  STAGE_JOB=""
  STAGE_SETS=()
  STAGE_FROM=""
  STAGE_RUN_DIR=""
  STAGE_SEED=""
  STAGE_SEED_DIR=""
  STAGE_AS=""
  STAGE_ARGS=()
  STAGE_T0=$(date +%s)
  while (($#)); do
    case "$1" in
      --set) STAGE_SETS+=("${2:?--set needs KEY=VALUE}"); shift 2 ;;
      --set=*) STAGE_SETS+=("${1#--set=}"); shift ;;
      --from) STAGE_FROM="${2:?--from needs a directory}"; shift 2 ;;
      --run-dir) STAGE_RUN_DIR="${2:?--run-dir needs a directory}"; shift 2 ;;
      --seed) STAGE_SEED="${2:?--seed needs a number}"; shift 2 ;;
      --seed-dir) STAGE_SEED_DIR="${2:?--seed-dir needs a directory}"; shift 2 ;;
      --as) STAGE_AS="${2:?--as needs a stage name}"; shift 2 ;;
      --) shift; STAGE_ARGS=("$@"); break ;;
      -*) xomni_die "$STAGE_NAME: unknown option '$1'" ;;
      *)
        [[ -z "$STAGE_JOB" ]] || xomni_die "$STAGE_NAME: more than one job file ('$STAGE_JOB', '$1')"
        STAGE_JOB="$1"; shift ;;
    esac
  done
  # A job array over settings (slurm/scaling_sweep.sh): element i adds the i-th ';'-separated
  # group of XOMNI_ARRAY_SETS, each a ','-separated list of KEY=VALUE.
  STAGE_ARRAY_SETS=""
  if [[ -n "${XOMNI_ARRAY_SETS:-}" && -n "${SLURM_ARRAY_TASK_ID:-}" ]]; then
    local -a groups
    IFS=';' read -ra groups <<< "$XOMNI_ARRAY_SETS"
    ((SLURM_ARRAY_TASK_ID < ${#groups[@]})) ||
      xomni_die "array element $SLURM_ARRAY_TASK_ID but XOMNI_ARRAY_SETS has ${#groups[@]} groups"
    STAGE_ARRAY_SETS="${groups[SLURM_ARRAY_TASK_ID]}"
    local -a kvs
    IFS=',' read -ra kvs <<< "$STAGE_ARRAY_SETS"
    STAGE_SETS+=("${kvs[@]}")
  fi
  [[ -n "$STAGE_JOB" ]] || xomni_die "$STAGE_NAME: usage: sbatch $STAGE_NAME.sbatch JOB.toml [--set KEY=VALUE ...] [--from DIR] [--run-dir DIR] [--seed K] [--seed-dir DIR --as NAME] [-- ARGS]"
  [[ -z "$STAGE_SEED" || "$STAGE_SEED" =~ ^[0-9]+$ ]] || xomni_die "$STAGE_NAME: --seed must be a non-negative integer, got '$STAGE_SEED'"
  [[ -z "$STAGE_SEED_DIR" || -n "$STAGE_AS" ]] || xomni_die "$STAGE_NAME: --seed-dir needs --as NAME (the stage's name in the study)"
  [[ -f "$STAGE_JOB" ]] || xomni_die "$STAGE_NAME: job file '$STAGE_JOB' not found (from $PWD)"
  xomni_load_site
  export XOMNI_GPUS_PER_NODE
  if [[ -n "$XOMNI_MODULES" ]]; then
    command -v module > /dev/null || xomni_die "XOMNI_MODULES is set but 'module' is not available"
    # shellcheck disable=SC2086  # a list of module names
    module load $XOMNI_MODULES
  fi
  [[ -x "$XOMNI_BIN" ]] || xomni_die "xomni binary '$XOMNI_BIN' not found (set XOMNI_BIN in the site file)"
  # Array jobs: one run directory per element.
  STAGE_JOB_TAG="${SLURM_JOB_ID:-local$$}"
  [[ -n "${SLURM_ARRAY_JOB_ID:-}" ]] && STAGE_JOB_TAG="${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"
  [[ -n "$STAGE_RUN_DIR" ]] || STAGE_RUN_DIR="$XOMNI_RUN_ROOT/$STAGE_NAME-$STAGE_JOB_TAG"
  mkdir -p "$STAGE_RUN_DIR"
  STAGE_RUN_DIR="$(cd "$STAGE_RUN_DIR" && pwd)"
  STAGE_NTASKS="${SLURM_NTASKS:-1}"
  STAGE_NODES="${SLURM_JOB_NUM_NODES:-1}"
  echo "[$STAGE_NAME] job ${SLURM_JOB_ID:-none} (restart ${SLURM_RESTART_COUNT:-0})" \
    "on $STAGE_NODES node(s), $STAGE_NTASKS task(s): $STAGE_JOB ${STAGE_SETS[*]}"
  echo "[$STAGE_NAME] run directory $STAGE_RUN_DIR"
  stage_runtime_env
}

# stage_runtime_env: the threads and MPI settings every task inherits (site.sh explains each):
# OMP_NUM_THREADS from the job's CPUs per task, OMPI_MCA_* from XOMNI_MPI_MCA.
stage_runtime_env() {
  # Outside Slurm (a stage script run by hand) there is no allocation: keep the shell's threads.
  local fallback=1
  [[ -n "${SLURM_JOB_ID:-}" ]] || fallback="${OMP_NUM_THREADS:-$(nproc)}"
  STAGE_THREADS="${XOMNI_THREADS_PER_TASK:-${SLURM_CPUS_PER_TASK:-$fallback}}"
  [[ "$STAGE_THREADS" =~ ^[1-9][0-9]*$ ]] ||
    xomni_die "threads per task must be a positive integer, got '$STAGE_THREADS' (XOMNI_THREADS_PER_TASK or --cpus-per-task)"
  export OMP_NUM_THREADS="$STAGE_THREADS"
  local kv var mca=""
  for kv in $XOMNI_MPI_MCA; do
    [[ "$kv" =~ ^[A-Za-z0-9_]+=.+$ ]] || xomni_die "XOMNI_MPI_MCA: '$kv' is not NAME=VALUE"
    var="OMPI_MCA_${kv%%=*}"
    [[ -n "${!var:-}" ]] || export "$var=${kv#*=}"
    mca+=" $var=${!var}"
  done
  # A cluster without a task plugin that binds (TaskPlugin=task/none) cannot pin tasks; srun
  # would only warn about --cpu-bind there.
  STAGE_CPU_BIND="$XOMNI_CPU_BIND"
  if [[ -n "${SLURM_JOB_ID:-}" && -n "$STAGE_CPU_BIND" ]] &&
    scontrol show config 2> /dev/null | grep -Eq '^TaskPlugin +=.*task/none'; then
    STAGE_CPU_BIND=""
  fi
  echo "[$STAGE_NAME] threads: OMP_NUM_THREADS=$STAGE_THREADS per task (cpus-per-task" \
    "${SLURM_CPUS_PER_TASK:-not set}); cpu-bind ${STAGE_CPU_BIND:-none (TaskPlugin=task/none)}; MPI:${mca:- Open MPI defaults}"
}

# stage_get KEY DEFAULT: the job file's value after --set overrides.
stage_get() {
  job_value "$STAGE_JOB" "$1" "$2" "${STAGE_SETS[@]}"
}

# stage_input KEY: a value the previous stage (--from) recorded in its outputs.env; empty if none.
stage_input() {
  [[ -n "$STAGE_FROM" ]] || return 0
  [[ -f "$STAGE_FROM/outputs.env" ]] ||
    xomni_die "$STAGE_NAME: --from $STAGE_FROM has no outputs.env (did that stage finish?)"
  # No such key is no value, not a failure (under pipefail grep's status would end the script).
  { grep "^$1=" "$STAGE_FROM/outputs.env" || true; } | tail -n 1 | cut -d= -f2-
}

# stage_check_layout: derives dp from the job file and the allocation and stops before launching
# when the layout cannot fit (xomni_check_layout in common.sh; submit.sh runs the same check at
# submission). Sets STAGE_TP STAGE_CP STAGE_PP STAGE_DP.
stage_check_layout() {
  xomni_check_layout "$STAGE_JOB" "$STAGE_NTASKS" "$STAGE_NODES" "${STAGE_SETS[@]}"
  STAGE_TP=$LAYOUT_TP STAGE_CP=$LAYOUT_CP STAGE_PP=$LAYOUT_PP STAGE_DP=$LAYOUT_DP
  echo "[$STAGE_NAME] layout: tp=$STAGE_TP cp=$STAGE_CP pp=$STAGE_PP dp=$STAGE_DP over $STAGE_NTASKS tasks on $STAGE_NODES node(s)"
}

# Records the allocation and layout for `xomni report scaling` and for people.
stage_write_launch() {
  {
    echo "stage=$STAGE_NAME"
    echo "job_id=${SLURM_JOB_ID:-}"
    echo "array_job=${SLURM_ARRAY_JOB_ID:-}"
    echo "array_task=${SLURM_ARRAY_TASK_ID:-}"
    echo "restart=${SLURM_RESTART_COUNT:-0}"
    echo "nodes=$STAGE_NODES"
    echo "tasks=$STAGE_NTASKS"
    echo "gpus_per_node=$XOMNI_GPUS_PER_NODE"
    echo "cpus_per_task=${SLURM_CPUS_PER_TASK:-}"
    echo "threads=$STAGE_THREADS"
    echo "tp=${STAGE_TP:-1}"
    echo "cp=${STAGE_CP:-1}"
    echo "pp=${STAGE_PP:-1}"
    echo "dp=${STAGE_DP:-1}"
    echo "peak_flops_per_device=$XOMNI_PEAK_FLOPS"
    echo "scaling=${XOMNI_SCALING_MODE:-}"
    echo "array_sets=$STAGE_ARRAY_SETS"
    echo "job_file=$(realpath "$STAGE_JOB")"
  } > "$STAGE_RUN_DIR/launch.env"
}

# stage_outputs KEY=VALUE...: writes outputs.env: the previous stage's entries, then these.
stage_outputs() {
  local tmp="$STAGE_RUN_DIR/outputs.env.tmp" kv
  : > "$tmp"
  if [[ -n "$STAGE_FROM" && -f "$STAGE_FROM/outputs.env" ]]; then
    cat "$STAGE_FROM/outputs.env" >> "$tmp"
  fi
  for kv in "run_dir_$STAGE_NAME=$STAGE_RUN_DIR" "$@"; do echo "$kv" >> "$tmp"; done
  [[ -n "$STAGE_AS" ]] && echo "run_dir_$STAGE_AS=$STAGE_RUN_DIR" >> "$tmp"
  mv "$tmp" "$STAGE_RUN_DIR/outputs.env"
  [[ -z "$STAGE_SEED_DIR" ]] || stage_record_study
}

# The kind of a stage in a study.json (as `xomni pipeline` names them): data, train, eval, report.
stage_kind() {
  case "$1" in
    prompts | synth | tokenizer | mmdata) echo data ;;
    bon | xeval | eval | codec_eval) echo eval ;;
    report) echo report ;;
    *) echo train ;;
  esac
}

json_str() {  # json_str TEXT: TEXT as a JSON string
  local s="$1"
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\t'/\\t}
  s=${s//$'\n'/\\n}
  printf '"%s"' "$s"
}
json_list() {  # json_list TEXT...: a JSON array of strings
  local out="" x
  for x in "$@"; do out+="${out:+, }$(json_str "$x")"; done
  printf '[%s]' "$out"
}

# stage_record_study: this stage's place in its study's seed folder (--seed-dir DIR --as NAME),
# the layout `xomni report study` reads, as `xomni pipeline` writes it: DIR/NAME links to the run
# directory, DIR/.stages/NAME holds the stage's record, and DIR/study.json is rewritten from all
# records so far, in the order they finished: {"name", "scale", "seed", "stages": [{"name",
# "kind", "status", "wall_s", "dir"}], "settings": {NAME: {"job", "set", "args"}}}. name and scale
# come from DIR/study.env (written by submit_pipeline.sh). A requeued stage replaces its record.
stage_record_study() {
  local dir="$STAGE_SEED_DIR" name scale seed f stages="" settings="" end
  mkdir -p "$dir/.stages"
  ln -sfn "$STAGE_RUN_DIR" "$dir/$STAGE_AS"
  end=$(date +%s)
  {
    date +%s%N  # the order key: stages of a chain may finish within one second

    printf '{"name": %s, "kind": %s, "status": "done", "wall_s": %s, "dir": %s}\n' \
      "$(json_str "$STAGE_AS")" "$(json_str "$(stage_kind "$STAGE_NAME")")" "$((end - STAGE_T0))" \
      "$(json_str "$STAGE_AS")"
    printf '%s: {"job": %s, "script": %s, "set": %s, "args": %s}\n' "$(json_str "$STAGE_AS")" \
      "$(json_str "$(realpath "$STAGE_JOB")")" "$(json_str "$STAGE_NAME")" \
      "$(json_list "${STAGE_SETS[@]}")" "$(json_list "${STAGE_ARGS[@]}")"
  } > "$dir/.stages/$STAGE_AS.tmp"
  mv "$dir/.stages/$STAGE_AS.tmp" "$dir/.stages/$STAGE_AS"
  name=$(grep '^name=' "$dir/study.env" 2> /dev/null | cut -d= -f2- || true)
  scale=$(grep '^scale=' "$dir/study.env" 2> /dev/null | cut -d= -f2- || true)
  seed="${STAGE_SEED:-$(grep '^seed=' "$dir/study.env" 2> /dev/null | cut -d= -f2- || true)}"
  # Records in the order the stages finished (first line: when, in nanoseconds).
  while IFS= read -r f; do
    stages+="${stages:+,}"$'\n'"    $(sed -n 2p "$f")"
    settings+="${settings:+,}"$'\n'"    $(sed -n 3p "$f")"
  done < <(for f in "$dir"/.stages/*; do
    [[ "$f" == *.tmp ]] || echo "$(head -n 1 "$f") $f"
  done | sort -n -k1,1 | cut -d' ' -f2-)
  {
    printf '{\n  "name": %s,\n  "scale": %s,\n  "seed": %s,\n' "$(json_str "${name:-xomni}")" \
      "$(json_str "${scale:-default}")" "${seed:-1}"
    printf '  "stages": [%s\n  ],\n  "settings": {%s\n  }\n}\n' "$stages" "$settings"
  } > "$dir/study.json.tmp"
  mv "$dir/study.json.tmp" "$dir/study.json"
  echo "[$STAGE_NAME] recorded as $STAGE_AS in $dir/study.json"
}

# stage_run [--tasks N] CMD...: runs CMD on every task of the allocation through srun (one task per
# GPU; slurm/lib/task.sh binds each to its device), or once when --tasks 1. A USR1 (the
# --signal=B:USR1@T warning before the time limit or a preemption) is passed on to xomni, which
# saves a checkpoint and exits with status 3; the job then requeues itself and the requeued job
# resumes from that checkpoint. A TERM (scancel) is passed on too but does not requeue. Returns
# CMD's exit status when it is not requeued.
stage_run() {
  local tasks="$STAGE_NTASKS"
  if [[ "$1" == --tasks ]]; then
    tasks="$2"
    shift 2
  fi
  local -a wrap=()
  # shellcheck disable=SC2206  # a command line from the site file
  [[ -n "$XOMNI_CONTAINER" ]] && wrap=($XOMNI_CONTAINER)
  local -a launch=("$XOMNI_SLURM_DIR/lib/task.sh" "${wrap[@]}" "$@")
  if [[ -n "${SLURM_JOB_ID:-}" ]]; then
    local -a step=(srun --mpi="$XOMNI_SRUN_MPI" --ntasks="$tasks" --kill-on-bad-exit=1)
    # Slurm 22.11 and later no longer pass the job's --cpus-per-task on to srun by themselves.
    [[ -n "${SLURM_CPUS_PER_TASK:-}" ]] && step+=("--cpus-per-task=$SLURM_CPUS_PER_TASK")
    [[ -n "$STAGE_CPU_BIND" ]] && step+=("--cpu-bind=$STAGE_CPU_BIND")
    launch=("${step[@]}" "${launch[@]}")
  fi
  echo "[$STAGE_NAME] $(date -u +%FT%TZ) launching: ${launch[*]}" >&2
  STAGE_GOT_USR1=0
  STAGE_GOT_TERM=0
  "${launch[@]}" &
  local pid=$! status
  # shellcheck disable=SC2064  # the pid is fixed now
  trap "STAGE_GOT_USR1=1; echo \"[$STAGE_NAME] USR1: asking xomni to save a checkpoint\"; kill -USR1 $pid 2> /dev/null || true" USR1
  # shellcheck disable=SC2064
  trap "STAGE_GOT_TERM=1; echo \"[$STAGE_NAME] TERM: asking xomni to save a checkpoint\"; kill -TERM $pid 2> /dev/null || true" TERM
  while :; do
    status=0
    wait "$pid" || status=$?
    # A trapped signal interrupts `wait` (status > 128) while the launch is still running.
    if ((status > 128)) && kill -0 "$pid" 2> /dev/null; then continue; fi
    if ((status > 128)); then
      local again=0
      wait "$pid" || again=$?
      ((again == 127)) || status=$again
    fi
    break
  done
  trap - USR1 TERM
  echo "[$STAGE_NAME] $(date -u +%FT%TZ) exit status $status" >&2
  if ((STAGE_GOT_USR1 == 1 && status != XOMNI_EXIT_CHECKPOINTED)); then
    echo "[$STAGE_NAME] USR1 arrived but the command exited with $status, not $XOMNI_EXIT_CHECKPOINTED: not requeueing" >&2
  fi
  if ((status == XOMNI_EXIT_CHECKPOINTED)) && ((STAGE_GOT_TERM == 0)) && [[ -n "${SLURM_JOB_ID:-}" ]]; then
    if ((${SLURM_RESTART_COUNT:-0} >= XOMNI_MAX_REQUEUES)); then
      echo "[$STAGE_NAME] checkpoint saved; not requeueing: already requeued $XOMNI_MAX_REQUEUES times (XOMNI_MAX_REQUEUES)" >&2
      return "$status"
    fi
    stage_wait_steps_gone
    echo "[$STAGE_NAME] checkpoint saved; requeueing job $SLURM_JOB_ID"
    if ! scontrol requeue "$SLURM_JOB_ID"; then
      echo "[$STAGE_NAME] scontrol requeue failed (submitted with --no-requeue?); resubmit to resume" >&2
      return "$status"
    fi
    # The controller now ends this run of the job; do not report success before it does.
    sleep 60
    exit "$status"
  fi
  return "$status"
}

# Requeue only once the job's steps are gone, including their PMIx sockets in slurmd's spool
# folder: a step still cleaning up when the job is requeued leaves its socket behind, and the
# requeued job's first step (same job and step id) then fails to launch ("Cannot bind() UNIX
# socket ... stepd.slurm.pmix.JOB.0: Address already in use"). Waits at most ~60 s.
stage_wait_steps_gone() {
  local spool _
  spool=$(scontrol show config 2> /dev/null | awk '$1 == "SlurmdSpoolDir" {print $3}')
  spool="${spool//%n/$(hostname -s)}"
  spool="${spool//%h/$(hostname -s)}"
  for _ in $(seq 120); do
    if ! squeue -h -s -j "$SLURM_JOB_ID" -o %i 2> /dev/null | grep -qv '\.\(batch\|extern\)$' &&
      ! compgen -G "$spool/stepd.slurm.pmix.$SLURM_JOB_ID.*" > /dev/null; then
      break
    fi
    sleep 0.5
  done
  sleep 1
}

# stage_newest_checkpoint DIR: the newest ckpt-*.h5 under DIR/checkpoints (empty if none, also
# when there is no such folder: find's failure must not end the script under pipefail).
stage_newest_checkpoint() {
  { find "$1/checkpoints" -maxdepth 1 -name 'ckpt-*.h5' 2> /dev/null || true; } | sort | tail -n 1
}

# stage_train [--set KEY=VALUE ...]: a training stage's run (`xomni train JOB.toml`, the trainer
# picked by the job's run.stage) on every task, after stage_check_layout. Its overrides, last one
# wins: run.seed from --seed, the stage's own --set arguments, then the given ones (what the stage maps from the previous
# stage's outputs), then parallel.dp from the layout and run.dir/run.name = the run directory (the
# job's, by job id, so a requeued job finds its own checkpoints). Exits with xomni's status when
# it fails. Then insists that the newest checkpoint is at train.steps (a step that never started
# can end with status 0, e.g. srun after a failed launch) and sets STAGE_CHECKPOINT to it.
stage_train() {
  local -a sets=()
  local kv status=0 ckpt steps last
  # The study's seed first, so that an explicit --set run.seed of the stage wins.
  [[ -n "$STAGE_SEED" ]] && sets+=(--set "run.seed=$STAGE_SEED")
  for kv in "${STAGE_SETS[@]}"; do sets+=(--set "$kv"); done
  stage_run "$XOMNI_BIN" train "$STAGE_JOB" "${sets[@]}" "$@" \
    --set "parallel.dp=$STAGE_DP" \
    --set "run.dir=$(dirname "$STAGE_RUN_DIR")" --set "run.name=$(basename "$STAGE_RUN_DIR")" ||
    status=$?
  ((status == 0)) || exit "$status"
  ckpt=$(stage_newest_checkpoint "$STAGE_RUN_DIR")
  [[ -n "$ckpt" ]] ||
    xomni_die "$STAGE_NAME: training finished but left no checkpoint in $STAGE_RUN_DIR/checkpoints"
  steps=$(stage_get train.steps 0)
  last=$(basename "$ckpt" .h5)
  last=$((10#${last#ckpt-}))
  ((last == steps)) ||
    xomni_die "$STAGE_NAME: the newest checkpoint $ckpt is at step $last, not train.steps=$steps"
  # shellcheck disable=SC2034  # read by the stage script
  STAGE_CHECKPOINT="$ckpt"
}

# stage_check_run_stage: a training stage's job file must select this stage's trainer (run.stage,
# xomni_check_run_stage in common.sh; submit.sh runs the same check at submission).
stage_check_run_stage() {
  xomni_check_run_stage "$STAGE_NAME" "$STAGE_JOB" "${STAGE_SETS[@]}"
}

# stage_codec_data_sets: sets STAGE_DATA_SETS to the --set overrides that point a codec stage
# (siglip, vq, decoder) at the synth stage's datasets the previous stages carry: images ->
# data.train, images_valid -> data.valid, and with its text sets images_text -> data.train_text,
# images_text_valid -> data.valid_text. STAGE_DATA_TRAIN is the training images ("" when none).
stage_codec_data_sets() {
  STAGE_DATA_SETS=()
  local key value
  for key in images:data.train images_valid:data.valid images_text:data.train_text \
    images_text_valid:data.valid_text; do
    value=$(stage_input "${key%%:*}")
    [[ -n "$value" ]] && STAGE_DATA_SETS+=(--set "${key#*:}=$value")
  done
  # shellcheck disable=SC2034  # read by the stage script
  STAGE_DATA_TRAIN=$(stage_input images)
}

# stage_previous_checkpoint STAGE...: sets STAGE_PREVIOUS_CHECKPOINT to the checkpoint the
# previous stages left (outputs.env's last checkpoint=), empty when there is none; dies unless the
# stage that wrote it (checkpoint_stage=) is one of STAGE....
stage_previous_checkpoint() {
  local ckpt from want
  # shellcheck disable=SC2034  # read by the stage script
  STAGE_PREVIOUS_CHECKPOINT=""
  ckpt=$(stage_input checkpoint)
  [[ -n "$ckpt" ]] || return 0
  from=$(stage_input checkpoint_stage)
  for want in "$@"; do
    if [[ "$from" == "$want" ]]; then
      # shellcheck disable=SC2034  # read by the stage script
      STAGE_PREVIOUS_CHECKPOINT="$ckpt"
      return 0
    fi
  done
  xomni_die "$STAGE_NAME: the previous stages' checkpoint $ckpt is the ${from:-unknown} stage's;" \
    "$STAGE_NAME starts from the $* stage's (give --from that stage's run directory)"
}

# stage_xomni_sets DATA PREVIOUS_STAGE...: the overrides of an X-Omni model stage (s1, s2, s3, sft)
# from what earlier stages left, in STAGE_FROM_SETS: data.train and data.valid from the mmdata
# stage's DATA folders (outputs data_DATA and data_DATA_valid) and model.init_checkpoint from the
# checkpoint of one of PREVIOUS_STAGE... (dies when the previous checkpoint is another stage's).
# Without --from, the job file's own values stay; a job that then has no data or no weights to
# start from is refused.
stage_xomni_sets() {
  local data="$1" train valid
  shift
  STAGE_FROM_SETS=()
  stage_previous_checkpoint "$@"
  [[ -n "$STAGE_PREVIOUS_CHECKPOINT" ]] &&
    STAGE_FROM_SETS+=(--set "model.init_checkpoint=$STAGE_PREVIOUS_CHECKPOINT")
  train=$(stage_input "data_$data")
  valid=$(stage_input "data_${data}_valid")
  [[ -n "$train" ]] && STAGE_FROM_SETS+=(--set "data.train=$train")
  [[ -n "$valid" ]] && STAGE_FROM_SETS+=(--set "data.valid=$valid")
  [[ -n "$train" || -n "$(stage_get data.train "")" ]] ||
    xomni_die "$STAGE_NAME: no training data: give --from a run that carries the mmdata stage's outputs or set data.train"
  [[ -n "$STAGE_PREVIOUS_CHECKPOINT" || -n "$(stage_get model.init_checkpoint "")" ]] ||
    xomni_die "$STAGE_NAME: no weights to start from: give --from the $* stage's run directory or set model.init_checkpoint"
  return 0
}
