#!/usr/bin/env bash
# Submits a whole training chain, each stage depending on the previous one (afterok) and reading
# its outputs (--from the previous run directory: token shards, tokenizer, final checkpoint).
#   slurm/submit_pipeline.sh [--dry-run] [--skip-missing] [--seeds N] [--study-root DIR] PIPELINE.toml
# Prints one line per stage: "STAGE JOBID RUN_DIR" ("seed-K/STAGE ..." with --seeds). --dry-run
# prints the sbatch commands instead (later stages refer to earlier job ids as $JOB_<stage>, with
# --seeds $JOB_<stage>_<K>). A stage listed in the pipeline whose script does not exist yet stops
# the submission before anything is submitted, unless --skip-missing (then it is left out of the
# chain with a message).
# --seeds N: N independent chains, chain K with --seed K (run.seed of its training stages, the
# seed of bon, realism and xeval). Every chain records its stages in the study folder
# (--study-root, default XOMNI_RUN_ROOT/NAME-DATE): DIR/seed-K/STAGE links to each stage's run
# directory and DIR/seed-K/study.json lists them (lib/stage.sh stage_record_study). A `report`
# stage is submitted once, after every chain (afterok on each chain's last job), on that folder.
set -euo pipefail
XOMNI_SLURM_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export XOMNI_SLURM_DIR
# shellcheck source=lib/common.sh
source "$XOMNI_SLURM_DIR/lib/common.sh"
xomni_load_site

# The full chain, in order. A new stage is one new slurm/stages/NAME.sbatch.
# The X-Omni evaluations (eval-s2, eval-sft, eval-rl) run slurm/stages/xeval.sbatch (script =
# "xeval"), the codec's (codec-eval) codec_eval.sbatch; report comes last, once for all seeds.
readonly CHAIN=(data prompts synth tokenizer siglip vq decoder codec-eval mmdata lm0 s1 s2 eval-s2 s3
  sft eval-sft realism bon rl eval-rl eval report)

dry_run=0
skip_missing=0
seeds=""
study_root=""
pipeline=""
while (($#)); do
  case "$1" in
    --dry-run) dry_run=1 ;;
    --skip-missing) skip_missing=1 ;;
    --seeds) seeds="${2:-}"; shift ;;
    --seeds=*) seeds="${1#--seeds=}" ;;
    --study-root) study_root="${2:-}"; shift ;;
    --study-root=*) study_root="${1#--study-root=}" ;;
    -h | --help) sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) xomni_die "unknown option '$1'" ;;
    *) pipeline="$1" ;;
  esac
  shift
done
[[ -n "$pipeline" && -f "$pipeline" ]] || xomni_die "usage: slurm/submit_pipeline.sh [--dry-run] [--skip-missing] [--seeds N] [--study-root DIR] PIPELINE.toml"
[[ -z "$seeds" || "$seeds" =~ ^[1-9][0-9]*$ ]] || xomni_die "--seeds must be a positive integer, got '$seeds'"

name=$(toml_get "$pipeline" pipeline.name || basename "$pipeline" .toml)
scale=$(toml_get "$pipeline" pipeline.scale || echo default)
mapfile -t stages < <(toml_list "$(toml_get "$pipeline" pipeline.stages || true)")
((${#stages[@]} > 0)) || xomni_die "$pipeline: pipeline.stages lists no stages"

# Check everything before submitting anything: known names, chain order, scripts, job files.
position() {
  local i
  for i in "${!CHAIN[@]}"; do [[ "${CHAIN[i]}" == "$1" ]] && echo "$i" && return 0; done
  return 1
}
plan=()
last=-1
for s in "${stages[@]}"; do
  pos=$(position "$s") || xomni_die "$pipeline: unknown stage '$s' (the chain is: ${CHAIN[*]})"
  ((pos > last)) || xomni_die "$pipeline: stage '$s' is out of order (the chain is: ${CHAIN[*]})"
  last=$pos
  script=$(toml_get "$pipeline" "$s.script" || echo "$s")
  if [[ ! -f "$XOMNI_SLURM_DIR/stages/$script.sbatch" ]]; then
    msg="stage '$s' does not exist yet (no slurm/stages/$script.sbatch)"
    ((skip_missing)) || xomni_die "$pipeline: $msg; remove it from pipeline.stages or pass --skip-missing"
    [[ -n "${XOMNI_PIPELINE_PRECHECK:-}" ]] || echo "skipping $msg" >&2
    continue
  fi
  job=$(toml_get "$pipeline" "$s.job") || xomni_die "$pipeline: [$s] has no job file (job = \"...\")"
  [[ -f "$job" ]] || xomni_die "$pipeline: [$s] job file '$job' not found (from $PWD)"
  plan+=("$s:$script:$job")
done

# submit.sh checks each stage's job and layout; a dry run of the whole chain first, so that a
# chain is submitted whole or not at all.
if ((!dry_run)); then
  args=(--dry-run)
  ((skip_missing)) && args+=(--skip-missing)
  [[ -n "$seeds" ]] && args+=(--seeds "$seeds")
  XOMNI_PIPELINE_PRECHECK=1 "${BASH_SOURCE[0]}" "${args[@]}" "$pipeline" > /dev/null ||
    xomni_die "$pipeline: a stage would be refused (above); nothing submitted"
fi

# The study folder: one seed folder per chain, where the stages record themselves.
[[ -n "$study_root" ]] || study_root="$XOMNI_RUN_ROOT/$name-$(date -u +%Y%m%d-%H%M%S)"
if ((!dry_run)); then
  [[ ! -e "$study_root" ]] || xomni_die "study folder $study_root exists already; give another --study-root"
  echo "study folder: $study_root" >&2
fi

# submit STAGE SCRIPT JOB DEPENDENCY STAGE_ARGS...: one stage through submit.sh (a dry run prints
# its sbatch command); sets id to the job id (a $JOB_ placeholder in a dry run). The job is named
# xomni-NAME-[seedK-]STAGE (tag), its log XOMNI_LOG_DIR/that-JOBID.out.
submit() {
  local s="$1" script="$2" job="$3" dep="$4" kv
  shift 4
  local -a args=(--parsable "--job-name=xomni-$name-$tag$s") extra
  mapfile -t extra < <(toml_list "$(toml_get "$pipeline" "$s.sbatch" || true)")
  args+=("${extra[@]}")
  [[ "$(toml_get "$pipeline" "$s.cpu" || true)" == true ]] && args+=(--cpu-only)
  [[ -n "$dep" ]] && args+=("--dependency=afterok:$dep" --kill-on-invalid-dep=yes)
  local -a stage_args=()
  while IFS= read -r kv; do
    [[ -n "$kv" ]] && stage_args+=(--set "$kv")
  done < <(toml_list "$(toml_get "$pipeline" "$s.set" || true)")
  local list
  for list in valid_set text_set text_valid_set; do  # synth's: --valid-set, --text-set, ...
    while IFS= read -r kv; do
      [[ -n "$kv" ]] && stage_args+=("--${list//_/-}" "$kv")
    done < <(toml_list "$(toml_get "$pipeline" "$s.$list" || true)")
  done
  stage_args+=("$@")
  local -a more
  mapfile -t more < <(toml_list "$(toml_get "$pipeline" "$s.args" || true)")
  ((${#more[@]})) && stage_args+=(-- "${more[@]}")
  if ((dry_run)); then
    "$XOMNI_SLURM_DIR/submit.sh" --dry-run "${args[@]}" "$script" "$job" "${stage_args[@]}"
    return 0
  fi
  id=$("$XOMNI_SLURM_DIR/submit.sh" "${args[@]}" "$script" "$job" "${stage_args[@]}")
}

report=""
chain=()
for entry in "${plan[@]}"; do
  if [[ "${entry%%:*}" == report ]]; then report="$entry"; else chain+=("$entry"); fi
done
last_ids=()
for ((k = 1; k <= ${seeds:-1}; k++)); do
  seed_dir="$study_root/seed-$k"
  tag="${seeds:+seed$k-}"
  if ((!dry_run)); then
    mkdir -p "$seed_dir"
    printf 'name=%s\nscale=%s\nseed=%s\npipeline=%s\n' "$name" "$scale" "$k" "$(realpath "$pipeline")" \
      > "$seed_dir/study.env"
  fi
  prev_id=""
  prev_dir=""
  for entry in "${chain[@]}"; do
    IFS=: read -r s script job <<< "$entry"
    stage_args=()
    [[ -n "$prev_dir" ]] && stage_args+=(--from "$prev_dir")
    [[ -n "$seeds" ]] && stage_args+=(--seed "$k")
    stage_args+=(--seed-dir "$seed_dir" --as "$s")
    submit "$s" "$script" "$job" "$prev_id" "${stage_args[@]}"
    if ((dry_run)); then
      # Job ids are unknown until submission; the run directory follows the job id.
      id="\$JOB_$s"
      [[ -n "$seeds" ]] && id+="_$k"
    fi
    prev_id="$id"
    prev_dir="$XOMNI_RUN_ROOT/$script-$id"
    ((dry_run)) || echo "${seeds:+seed-$k/}$s $id $prev_dir"
  done
  [[ -n "$prev_id" ]] && last_ids+=("$prev_id")
done
if [[ -n "$report" ]]; then
  IFS=: read -r s script job <<< "$report"
  tag=""
  submit "$s" "$script" "$job" "$(IFS=:; echo "${last_ids[*]}")" --study-root "$study_root"
  ((dry_run)) || echo "$s $id $XOMNI_RUN_ROOT/$script-$id"
fi
