#!/usr/bin/env bash
# Scaling sweep: the same LM job at several node counts and parallel layouts, as job arrays
# (one array per node count, one element per layout), then a table and plot with
#   xomni report scaling RUN_DIRS... --png scaling.png
#   slurm/scaling_sweep.sh [--dry-run] [--mode strong|weak] [--nodes 1,2,4,8]
#       [--tasks-per-node N] [--cpus-per-task N] [--layout KEY=V[,KEY=V...]]... [--steps N] [--time T]
#       [--plan-top K [--plan-device h100|h200|cpu]] JOB.toml [--set KEY=VALUE ...]
# --layout sets [parallel] keys for one element (e.g. tp=2,sequence_parallel=true; a key with a
# dot names its section, e.g. model.checkpoint_layers=true); default: the job file's layout.
# --plan-top K takes the K layouts `xomni plan --sweep-layouts` ranks fastest on the smallest node
# count instead (device: --plan-device, default h100 on a GPU site, cpu on a CPU site). Strong scaling keeps train.batch_size; weak scaling multiplies it by the node
# count (relative to the smallest). --tasks-per-node defaults to XOMNI_GPUS_PER_NODE (1 on a CPU
# site); --cpus-per-task (default XOMNI_CPUS_PER_TASK, else Slurm's 1) sets each task's threads.
# Prints the job ids, the run directories and the report command.
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
cpus_per_task=$XOMNI_CPUS_PER_TASK
layouts=()
plan_top=0
plan_device=""
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
    --cpus-per-task) cpus_per_task="$2"; shift 2 ;;
    --layout) layouts+=("$2"); shift 2 ;;
    --plan-top) plan_top="$2"; shift 2 ;;
    --plan-device) plan_device="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --time) time_limit="$2"; shift 2 ;;
    --set) sets+=("$2"); shift 2 ;;
    -h | --help) sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) xomni_die "unknown option '$1'" ;;
    *) job="$1"; shift ;;
  esac
done
[[ -n "$job" ]] || xomni_die "usage: slurm/scaling_sweep.sh [options] JOB.toml (see --help)"
[[ -f "$job" ]] || xomni_die "job file '$job' not found (from $PWD)"
[[ "$mode" == strong || "$mode" == weak ]] || xomni_die "--mode must be strong or weak, got '$mode'"
require_int --steps "$steps"
require_int --tasks-per-node "$tasks_per_node"
[[ -z "$cpus_per_task" ]] || require_int --cpus-per-task "$cpus_per_task"
IFS=, read -ra node_counts <<< "$nodes_list"
batch=$(job_value "$job" train.batch_size 8 "${sets[@]}")
min_nodes=${node_counts[0]}
for n in "${node_counts[@]}"; do
  require_int --nodes "$n"
  ((n < min_nodes)) && min_nodes=$n
done
stage_args=()
for kv in "${sets[@]}"; do stage_args+=(--set "$kv"); done
if [[ "$plan_top" != 0 ]]; then
  require_int --plan-top "$plan_top"
  ((${#layouts[@]} == 0)) || xomni_die "give --layout or --plan-top, not both"
  [[ -n "$plan_device" ]] || { ((XOMNI_GPUS_PER_NODE > 0)) && plan_device=h100 || plan_device=cpu; }
  plan_cmd=("$XOMNI_BIN" plan "$job" --devices "$((min_nodes * tasks_per_node))"
    --nodes-of "$tasks_per_node" --device "$plan_device" --sweep-layouts "$plan_top" "${stage_args[@]}")
  plan_out=$("${plan_cmd[@]}") || xomni_die "xomni plan failed (above): ${plan_cmd[*]}"
  mapfile -t layouts <<< "$plan_out"
  [[ -n "${layouts[0]}" ]] || xomni_die "xomni plan found no layout that fits: ${plan_cmd[*]}"
  echo "layouts from xomni plan (fastest first on $((min_nodes * tasks_per_node)) x $plan_device): ${layouts[*]}"
fi
((${#layouts[@]} > 0)) || layouts=("tp=$(job_value "$job" parallel.tp 1 "${sets[@]}")")

# Every element: the layout's [parallel] keys (prefixed) and the step count.
groups=""
for l in "${layouts[@]}"; do
  g="train.steps=$steps"
  IFS=, read -ra kvs <<< "$l"
  for kv in "${kvs[@]}"; do
    if [[ "${kv%%=*}" == *.* ]]; then g+=",$kv"; else g+=",parallel.$kv"; fi
  done
  groups+="${groups:+;}$g"
done

sweep_cmd() { # sweep_cmd NODES: the submit.sh command of the array for NODES nodes (in cmd)
  local n="$1" b=$batch
  [[ "$mode" == weak ]] && b=$((batch * n / min_nodes))
  cmd=("$XOMNI_SLURM_DIR/submit.sh" --parsable "--job-name=xomni-sweep-n$n" "--nodes=$n"
    "--ntasks-per-node=$tasks_per_node" ${cpus_per_task:+"--cpus-per-task=$cpus_per_task"}
    "--time=$time_limit" "--array=0-$((${#layouts[@]} - 1))" lm "$job" "${stage_args[@]}"
    --set "train.batch_size=$b")
}
# submit.sh checks the job file, the partition and every element's layout; a dry run of each
# array first, so that a sweep is submitted whole or not at all.
for n in "${node_counts[@]}"; do
  sweep_cmd "$n"
  line=$(XOMNI_ARRAY_SETS="$groups" "${cmd[0]}" --dry-run "${cmd[@]:1}") ||
    xomni_die "the ${n}-node array would be refused (above); nothing submitted"
  ((dry_run)) && echo "XOMNI_ARRAY_SETS='$groups' XOMNI_SCALING_MODE=$mode $line"
done
((dry_run)) && exit 0
dirs=()
for n in "${node_counts[@]}"; do
  sweep_cmd "$n"
  id=$(XOMNI_ARRAY_SETS="$groups" XOMNI_SCALING_MODE="$mode" "${cmd[@]}")
  echo "nodes=$n: array job $id (${#layouts[@]} layouts, ${cmd[-1]#train.})"
  for i in "${!layouts[@]}"; do dirs+=("$XOMNI_RUN_ROOT/lm-${id}_$i"); done
done
echo "run directories: ${dirs[*]}"
echo "when they finish: $XOMNI_BIN report scaling ${dirs[*]} --png scaling.png --csv scaling.csv"
