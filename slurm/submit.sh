#!/usr/bin/env bash
# Submits one stage: applies the site file (account, partition, QoS, GPUs, signal, log folder)
# and runs sbatch on slurm/stages/STAGE.sbatch. Prints the job id.
#   slurm/submit.sh [--dry-run] [--parsable] [sbatch options...] STAGE JOB.toml [stage args...]
# sbatch options come before STAGE (e.g. --nodes=2 --time=12:00:00 --dependency=afterok:123);
# without --nodes/--ntasks a job gets one node with one task per GPU (XOMNI_GPUS_PER_NODE, or one
# task on a CPU site). --cpu-only: a stage that needs no GPU (data, rewards, the report) asks for
# none, on XOMNI_CPU_PARTITION when the site sets one. Stage args: --set KEY=VALUE, --from DIR,
# --run-dir DIR, --seed K, --seed-dir DIR --as NAME, -- ARGS (see lib/stage.sh).
set -euo pipefail
XOMNI_SLURM_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export XOMNI_SLURM_DIR
# shellcheck source=lib/common.sh
source "$XOMNI_SLURM_DIR/lib/common.sh"
xomni_load_site

dry_run=0
parsable=0
sbatch_args=()
while (($#)) && [[ "$1" == -* ]]; do
  case "$1" in
    --dry-run) dry_run=1 ;;
    --parsable) parsable=1 ;;
    --cpu-only)
      # The job inherits the environment (--export=ALL): its tasks see no GPU either.
      export XOMNI_GPUS_PER_NODE=0
      [[ -n "$XOMNI_CPU_PARTITION" ]] && XOMNI_PARTITION="$XOMNI_CPU_PARTITION"
      ;;
    -h | --help) sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) sbatch_args+=("$1") ;;
  esac
  shift
done
(($# >= 2)) || xomni_die "usage: slurm/submit.sh [--dry-run] [sbatch options] STAGE JOB.toml [stage args]"
stage="$1"
shift
script="$XOMNI_SLURM_DIR/stages/$stage.sbatch"
if [[ ! -f "$script" ]]; then
  known=$(find "$XOMNI_SLURM_DIR/stages" -name '*.sbatch' -printf '%f\n' | sed 's/\.sbatch$//' | sort | tr '\n' ' ')
  xomni_die "stage '$stage' does not exist yet (no $script); stages today: $known"
fi

has() {
  local a
  for a in "${sbatch_args[@]}"; do [[ "$a" == "$1"* ]] && return 0; done
  return 1
}
site=()
[[ -n "$XOMNI_ACCOUNT" ]] && ! has --account && site+=("--account=$XOMNI_ACCOUNT")
[[ -n "$XOMNI_PARTITION" ]] && ! has --partition && site+=("--partition=$XOMNI_PARTITION")
[[ -n "$XOMNI_QOS" ]] && ! has --qos && site+=("--qos=$XOMNI_QOS")
has --time || site+=("--time=$XOMNI_TIME")
[[ -n "$XOMNI_CPUS_PER_TASK" ]] && ! has --cpus-per-task && ! has -c && site+=("--cpus-per-task=$XOMNI_CPUS_PER_TASK")
# One task per GPU; the stage script maps each task to its GPU.
if ! grep -q '^#SBATCH --ntasks=1$' "$script"; then
  if ! has --nodes && ! has --ntasks; then
    site+=(--nodes=1)
  fi
  if ((XOMNI_GPUS_PER_NODE > 0)); then
    has --ntasks || has --ntasks-per-node || site+=("--ntasks-per-node=$XOMNI_GPUS_PER_NODE")
    has --gpus || has --gres || site+=("--gpus-per-node=$XOMNI_GPUS_PER_NODE")
  fi
  has --signal || site+=("--signal=B:USR1@$XOMNI_SIGNAL_SECONDS")
elif ((XOMNI_GPUS_PER_NODE > 0)) && ! has --gpus && ! has --gres; then
  site+=(--gpus-per-node=1)
fi
if has --array; then
  has --output || site+=("--output=$XOMNI_LOG_DIR/%x-%A_%a.out")
else
  has --output || site+=("--output=$XOMNI_LOG_DIR/%x-%j.out")
fi
# shellcheck disable=SC2206  # a list of options from the site file
[[ -n "$XOMNI_SBATCH_EXTRA" ]] && site+=($XOMNI_SBATCH_EXTRA)

# Check the job file and its layout now rather than after a wait in the queue.
opt() { # opt LONG SHORT: the value of the last sbatch option --LONG=V or -SHORTV / -SHORT=V
  local a v=""
  for a in "${site[@]}" "${sbatch_args[@]}"; do
    if [[ "$a" == "--$1="* ]]; then
      v="${a#*=}"
    elif [[ -n "$2" && "$a" == "-$2"?* ]]; then
      v="${a#-"$2"}"
      v="${v#=}"
    fi
  done
  echo "$v"
}
(($# >= 1)) || xomni_die "usage: slurm/submit.sh [--dry-run] [sbatch options] STAGE JOB.toml [stage args]"
[[ -f "$1" ]] || xomni_die "$stage: job file '$1' not found (from $PWD)"
sets=()
for ((i = 2; i <= $#; i++)); do
  a="${!i}"
  [[ "$a" == -- ]] && break  # the xomni command's own arguments follow
  if [[ "$a" == --set ]]; then
    i=$((i + 1))
    sets+=("${!i:-}")
  elif [[ "$a" == --set=* ]]; then
    sets+=("${a#--set=}")
  fi
done
# A training stage's job file picks that stage's trainer (run.stage).
xomni_check_run_stage "$stage" "$1" "${sets[@]}"
if ! grep -q '^#SBATCH --ntasks=1$' "$script"; then
  nodes=$(opt nodes N)
  tasks=$(opt ntasks n)
  per_node=$(opt ntasks-per-node "")
  ((XOMNI_GPUS_PER_NODE > 0)) && [[ -z "$per_node" ]] && per_node=$XOMNI_GPUS_PER_NODE
  if [[ -z "$tasks" && "$nodes" =~ ^[0-9]+$ ]]; then
    tasks=$((nodes * ${per_node:-1}))
  fi
  [[ -z "$tasks" || "$tasks" =~ ^[0-9]+$ ]] || xomni_die "--ntasks must be a number, got '$tasks'"
  # A range (--nodes=2-4): the partition check takes the most nodes it may get.
  xomni_check_submission "$1" "${nodes##*-}" "$tasks" "$(opt partition p)" "${sets[@]}"
fi

cmd=(sbatch --parsable --export=ALL "${site[@]}" "${sbatch_args[@]}" "$script" "$@")
if ((dry_run)); then
  printf '%q ' "${cmd[@]}"
  echo
  exit 0
fi
mkdir -p "$XOMNI_LOG_DIR"
id=$("${cmd[@]}")
id="${id%%;*}"
if ((parsable)); then
  echo "$id"
else
  echo "$stage: job $id, log $XOMNI_LOG_DIR/xomni-$stage-$id.out, run directory $XOMNI_RUN_ROOT/$stage-$id"
fi
