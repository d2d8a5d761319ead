#!/usr/bin/env bash
# Submits a whole training chain, each stage depending on the previous one (afterok) and reading
# its outputs (--from the previous run directory: token shards, tokenizer, final checkpoint).
#   slurm/submit_pipeline.sh [--dry-run] [--skip-missing] PIPELINE.toml
# Prints one line per stage: "STAGE JOBID RUN_DIR". --dry-run prints the sbatch commands instead
# (later stages refer to earlier job ids as $JOB_<stage>). A stage listed in the pipeline whose
# script does not exist yet stops the submission before anything is submitted, unless
# --skip-missing (then it is left out of the chain with a message).
set -euo pipefail
XOMNI_SLURM_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export XOMNI_SLURM_DIR
# shellcheck source=lib/common.sh
source "$XOMNI_SLURM_DIR/lib/common.sh"
xomni_load_site

# The full chain, in order. A new stage is one new slurm/stages/NAME.sbatch.
readonly CHAIN=(data synth tokenizer siglip vq decoder mmdata lm0 s1 s2 s3 sft rl eval)

dry_run=0
skip_missing=0
pipeline=""
for a in "$@"; do
  case "$a" in
    --dry-run) dry_run=1 ;;
    --skip-missing) skip_missing=1 ;;
    -h | --help) sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) xomni_die "unknown option '$a'" ;;
    *) pipeline="$a" ;;
  esac
done
[[ -n "$pipeline" && -f "$pipeline" ]] || xomni_die "usage: slurm/submit_pipeline.sh [--dry-run] [--skip-missing] PIPELINE.toml"

name=$(toml_get "$pipeline" pipeline.name || basename "$pipeline" .toml)
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
  XOMNI_PIPELINE_PRECHECK=1 "${BASH_SOURCE[0]}" "${args[@]}" "$pipeline" > /dev/null ||
    xomni_die "$pipeline: a stage would be refused (above); nothing submitted"
fi

prev_id=""
prev_dir=""
for entry in "${plan[@]}"; do
  IFS=: read -r s script job <<< "$entry"
  args=(--parsable "--job-name=xomni-$name-$s")
  mapfile -t extra < <(toml_list "$(toml_get "$pipeline" "$s.sbatch" || true)")
  args+=("${extra[@]}")
  if [[ -n "$prev_id" ]]; then
    args+=("--dependency=afterok:$prev_id" --kill-on-invalid-dep=yes)
  fi
  stage_args=()
  while IFS= read -r kv; do
    [[ -n "$kv" ]] && stage_args+=(--set "$kv")
  done < <(toml_list "$(toml_get "$pipeline" "$s.set" || true)")
  [[ -n "$prev_dir" ]] && stage_args+=(--from "$prev_dir")
  if ((dry_run)); then
    # Job ids are unknown until submission; the run directory follows the job id.
    "$XOMNI_SLURM_DIR/submit.sh" --dry-run "${args[@]}" "$script" "$job" "${stage_args[@]}"
    prev_id="\$JOB_$s"
    prev_dir="$XOMNI_RUN_ROOT/$script-\$JOB_$s"
    continue
  fi
  id=$("$XOMNI_SLURM_DIR/submit.sh" "${args[@]}" "$script" "$job" "${stage_args[@]}")
  prev_id="$id"
  prev_dir="$XOMNI_RUN_ROOT/$script-$id"
  echo "$s $id $prev_dir"
done
