#!/usr/bin/env bash
# The X-Omni model at tiny scale on one machine: the multimodal data from the image codec's
# scenes (jobs/tiny/run_codec.sh makes the codec first: its vq tokenizer turns the images into
# tokens, its decoder renders generated tokens), then the stages lm0 -> s1 -> s2 -> s3 -> sft, each
# starting from the previous one's final checkpoint, then the held-out evaluation (docs/MODEL.md's
# table) into runs/tiny/xomni-eval; then GRPO from sft (docs/RL.md): the SFT best-of-N levels
# (runs/tiny/xomni-bon), the rl stage, and the held-out evaluation after it (runs/tiny/xomni-eval-rl).
#   jobs/tiny/run_xomni.sh [--steps N] [--stage-steps STAGE=N]...   (from the repository root;
#   --steps sets every stage's step count, --stage-steps one stage's)
set -euo pipefail
xomni="${XOMNI:-build/default/jobs/xomni}"
declare -A steps=([lm0]=800 [s1]=400 [s2]=1000 [s3]=300 [sft]=300 [rl]=60)
while (($#)); do
  case "$1" in
    --steps) for s in "${!steps[@]}"; do steps[$s]=$2; done; shift 2 ;;
    --stage-steps) steps[${2%%=*}]=${2#*=}; shift 2 ;;
    *) echo "run_xomni.sh: unknown argument '$1'" >&2; exit 1 ;;
  esac
done
codec=runs/tiny/codec-data
vq=runs/tiny/codec-vq/checkpoints/ckpt-00000600.h5
decoder=runs/tiny/codec-decoder/checkpoints/ckpt-00000600.h5
for f in "$codec/train/manifest.json" "$codec/valid/manifest.json" "$codec/heldout/manifest.json" \
  "$vq" "$decoder"; do
  [[ -e "$f" ]] || { echo "run_xomni.sh: $f is missing: run jobs/tiny/run_codec.sh first" >&2; exit 1; }
done
data=runs/tiny/xomni-data
mkdir -p "$data"
licenses=()
for l in Apache-2.0 GPL-3 LGPL-2.1 MPL-2.0; do licenses+=(--input "/usr/share/common-licenses/$l"); done
[[ -f $data/tokenizer.json ]] ||
  "$xomni" data mm-tokenizer --images $codec/train "${licenses[@]}" --vocab-size 1024 \
    --out $data/tokenizer.json
pack() {  # pack OUT IMAGES KIND [options]
  local out=$1 images=$2 kind=$3
  shift 3
  [[ -f $data/$out/manifest.json ]] && return 0
  "$xomni" data mm-pack --tokenizer $data/tokenizer.json --image-tokenizer $vq --decoder $decoder \
    --images "$images" --kind "$kind" --batch 64 --out "$data/$out" "$@"
}
pack text $codec/train text "${licenses[@]}"
pack text-valid $codec/valid text
pack gen $codec/train generation
pack gen-valid $codec/valid generation
pack mix $codec/train mixture --questions-per-document 8
pack mix-valid $codec/valid mixture --questions-per-document 8
# The synthetic world has no low-quality samples: s3 and sft re-draw each image's caption (other
# seeds), so they see other phrasings of the same scenes.
pack hq $codec/train mixture --questions-per-document 8 --seed 2
pack sft $codec/train mixture --questions-per-document 8 --seed 3

ckpt() { printf 'runs/tiny/xomni-%s/checkpoints/ckpt-%08d.h5' "$1" "${steps[$1]}"; }
train() {  # train STAGE [init-from STAGE]
  local stage=$1 sets=(--set "train.steps=${steps[$1]}")
  [[ -n "${2:-}" ]] && sets+=(--set "model.init_checkpoint=$(ckpt "$2")")
  [[ -f "$(ckpt "$stage")" ]] || "$xomni" train "jobs/tiny/xomni_$stage.toml" "${sets[@]}"
}
train lm0
train s1 lm0
train s2 s1
train s3 s2
train sft s3
# The held-out evaluation (docs/MODEL.md's table): generation through the scene checker and VQA on
# the codec's held-out scenes (seed 999), after s2 and after sft.
"$xomni" mm-eval --checkpoint "$(ckpt s2)" --dataset $codec/heldout --count 100 \
  --out runs/tiny/xomni-eval-s2
"$xomni" mm-eval --checkpoint "$(ckpt sft)" --dataset $codec/heldout --count 200 \
  --out runs/tiny/xomni-eval
# GRPO from sft: the best-of-N levels the RL reward is compared with, then rl, then the same
# held-out evaluation.
[[ -f runs/tiny/xomni-bon/bon.json ]] ||
  "$xomni" bon jobs/tiny/xomni_rl.toml --set "model.init_checkpoint=$(ckpt sft)" --prompts 32 \
    --out runs/tiny/xomni-bon
train rl sft
"$xomni" mm-eval --checkpoint "$(ckpt rl)" --dataset $codec/heldout --count 200 \
  --out runs/tiny/xomni-eval-rl
