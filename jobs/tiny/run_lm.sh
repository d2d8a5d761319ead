#!/usr/bin/env bash
# The tiny LM job end to end: tokenise the license texts into shards (training a 1024-entry
# BPE on them), train jobs/tiny/lm.toml, then print a greedy sample from the final checkpoint.
#   jobs/tiny/run_lm.sh [--set key=value ...]     (run from the repository root)
set -euo pipefail
xomni="${XOMNI:-build/default/jobs/xomni}"
data=runs/tiny-lm-data
licenses=(Apache-2.0 Artistic BSD GFDL-1.3 GPL-2 GPL-3 LGPL-2.1 LGPL-3 MPL-1.1 MPL-2.0)
if [[ ! -f "$data/train/manifest.json" ]]; then
  inputs=()
  for l in "${licenses[@]}"; do inputs+=(--input "/usr/share/common-licenses/$l"); done
  "$xomni" prepare-text "${inputs[@]}" --out "$data" --vocab-size 1024
fi
# Sample from the run this training wrote (--set run.name/run.dir move it): xomni names it in its
# last line, "run DIR: N steps, ...".
log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$xomni" train jobs/tiny/lm.toml "$@" | tee "$log"
run_dir=$(sed -n 's/^run \(.*\): [0-9]* steps.*/\1/p' "$log" | tail -n 1)
[[ -n "$run_dir" ]] || { echo "run_lm.sh: xomni train did not name its run directory" >&2; exit 1; }
last=$(find "$run_dir/checkpoints" -name "ckpt-*.h5" | sort | tail -n 1)
[[ -n "$last" ]] || { echo "run_lm.sh: no checkpoint in $run_dir/checkpoints" >&2; exit 1; }
echo "--- greedy sample from $last"
"$xomni" generate --checkpoint "$last" --tokenizer "$data/tokenizer.json" \
  --prompt "This License applies to" --steps 48
