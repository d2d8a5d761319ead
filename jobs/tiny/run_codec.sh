#!/usr/bin/env bash
# The image codec end to end at tiny scale: the synthetic scenes (training, validation and a
# held-out seed), the three codec stages (siglip -> vq -> decoder), then the held-out evaluation
# (docs/CODEC.md's table) into runs/tiny/codec-eval/results.json and a reconstruction grid.
#   jobs/tiny/run_codec.sh [--steps N]     (run from the repository root; N overrides every stage)
set -euo pipefail
xomni="${XOMNI:-build/default/jobs/xomni}"
sets=()
if [[ "${1:-}" == "--steps" ]]; then
  sets=(--set "train.steps=$2" --set "train.eval_every=$2" --set "train.checkpoint_every=$2")
  steps=$2
else
  steps=600
fi
data=runs/tiny/codec-data
synth=jobs/tiny/codec_synth.toml
[[ -f $data/train/manifest.json ]] || "$xomni" data synth $synth
[[ -f $data/valid/manifest.json ]] ||
  "$xomni" data synth $synth --set synth.seed=2 --set synth.scenes=256 --set "synth.out=$data/valid"
[[ -f $data/heldout/manifest.json ]] ||
  "$xomni" data synth $synth --set synth.seed=999 --set synth.scenes=500 --set "synth.out=$data/heldout"
ckpt=$(printf 'ckpt-%08d.h5' "$steps")
"$xomni" train jobs/tiny/codec_siglip.toml "${sets[@]}"
"$xomni" train jobs/tiny/codec_vq.toml "${sets[@]}" \
  --set "tokenizer.checkpoint=runs/tiny/codec-siglip/checkpoints/$ckpt"
"$xomni" train jobs/tiny/codec_decoder.toml "${sets[@]}" \
  --set "tokenizer.checkpoint=runs/tiny/codec-vq/checkpoints/$ckpt"
"$xomni" image eval --tokenizer "runs/tiny/codec-vq/checkpoints/$ckpt" \
  --decoder "runs/tiny/codec-decoder/checkpoints/$ckpt" --dataset $data/heldout \
  --out runs/tiny/codec-eval --count 200 --retrieval 500 --steps 1,4,16
"$xomni" image reconstruct --decoder "runs/tiny/codec-decoder/checkpoints/$ckpt" \
  --dataset $data/heldout --count 12 --out runs/tiny/codec-eval/reconstructions.png
