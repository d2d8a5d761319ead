#!/usr/bin/env bash
# Scaling sweep: the same LM job at several node counts and parallel layouts, as job arrays
# (one array per node count, one element per layout), then a table and plot with
#   xomni report scaling RUN_DIRS... --png scaling.png
#   slurm/scaling_sweep.sh [--dry-run] [--mode strong|weak] [--nodes 1,2,4,8]
#       [--tasks-per-node N] [--layout KEY=V[,KEY=V...]]... [--steps N] [--time T]
#       JOB.toml [--set KEY=VALUE ...]
# --layout sets [parallel] keys for one element (e.g. tp=2,sequence_parallel=true); default: the
# job file's layout. Strong scaling keeps train.batch_size; weak scaling multiplies it by the node
# count (relative to the smallest). --tasks-per-node defaults to XOMNI_GPUS_PER_NODE (1 on a CPU
# site). Prints the job ids, the run directories and the report command.
set -euo pipefail
XOMNI_SLURM_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export XOMNI_SLURM_DIR
# shellcheck source=lib/common.sh
source "$XOMNI_SLURM_DIR/lib/common.sh"
xomni_load_site

dry_run=0
mode=strong
nodes_list=1,2,4,8
tasks_per_node=$XOMNI_GPUS_PER_NODE
((tasks_per_node > 0)) || tasks_per_node=1
layouts=()
steps=50
time_limit=00:30:00
job=""
sets=()
while (($#)); do
  case "$1" in
    --dry-run) dry_run=1; shift ;;
    --mode) mode="$2"; shift 2 ;;
    --nodes) nodes_list="$2"; shift 2 ;;
    --tasks-per-node) tasks_per_node="$2"; shift 2 ;;
    --layout) layouts+=("$2"); shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --time) time_limit="$2"; shift 2 ;;
    --set) sets+=("$2"); shift 2 ;;
    -h | --help) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) xomni_die "unknown option '$1'" ;;
    *) job="$1"; shift ;;
  esac
done
[[ -n "$job" && -f "$job" ]] || xomni_die "usage: slurm/scaling_sweep.sh [options] JOB.toml (see --help)"
[[ "$mode" == strong || "$mode" == weak ]] || xomni_die "--mode must be strong or weak, got '$mode'"
require_int --steps "$steps"
require_int --tasks-per-node "$tasks_per_node"
((${#layouts[@]} > 0)) || layouts=("tp=$(job_value "$job" parallel.tp 1 "${sets[@]}")")
IFS=, read -ra node_counts <<< "$nodes_list"
batch=$(job_value "$job" train.batch_size 8 "${sets[@]}")
min_nodes=${node_counts[0]}
for n in "${node_counts[@]}"; do
  require_int --nodes "$n"
  ((n < min_nodes)) && min_nodes=$n
done

# Every element: the layout's [parallel] keys (prefixed) and the step count.
groups=""
for l in "${layouts[@]}"; do
  g="train.steps=$steps"
  IFS=, read -ra kvs <<< "$l"
  for kv in "${kvs[@]}"; do g+=",parallel.$kv"; done
  groups+="${groups:+;}$g"
done
stage_args=()
for kv in "${sets[@]}"; do stage_args+=(--set "$kv"); done

dirs=()
for n in "${node_counts[@]}"; do
  b=$batch
  [[ "$mode" == weak ]] && b=$((batch * n / min_nodes))
  cmd=("$XOMNI_SLURM_DIR/submit.sh" --parsable "--job-name=xomni-sweep-n$n" "--nodes=$n"
    "--ntasks-per-node=$tasks_per_node" "--time=$time_limit" "--array=0-$((${#layouts[@]} - 1))"
    lm "$job" "${stage_args[@]}" --set "train.batch_size=$b")
  if ((dry_run)); then
    echo "XOMNI_ARRAY_SETS='$groups' XOMNI_SCALING_MODE=$mode $("${cmd[@]:0:1}" --dry-run "${cmd[@]:1}")"
    continue
  fi
  id=$(XOMNI_ARRAY_SETS="$groups" XOMNI_SCALING_MODE="$mode" "${cmd[@]}")
  echo "nodes=$n: array job $id (${#layouts[@]} layouts, batch_size=$b)"
  for i in "${!layouts[@]}"; do dirs+=("$XOMNI_RUN_ROOT/lm-${id}_$i"); done
done
((dry_run)) && exit 0
echo "run directories: ${dirs[*]}"
echo "when they finish: $XOMNI_BIN report scaling ${dirs[*]} --png scaling.png --csv scaling.csv"
