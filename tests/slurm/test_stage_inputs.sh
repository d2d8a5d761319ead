#!/usr/bin/env bash
# The stage scripts' arguments and the previous stage's outputs -> --set mapping, outside Slurm,
# with a fake xomni that records its command line and writes the checkpoint a training run would:
# synth -> siglip -> vq -> decoder (images -> data.train, the siglip and vq checkpoints ->
# tokenizer.checkpoint, outputs.env carried forward), lm from token shards with and without
# data_valid, and the refusals (no input, a checkpoint of the wrong stage, run.stage of another
# stage at run time and at submission, a final checkpoint short of train.steps or none at all, a
# failed run's status, unknown options). The codec pipeline's dry run chains the four stages.
# The X-Omni study's stages: prompts, synth's validation set, xeval after s2/sft/rl, realism,
# bon, the seed folder each stage records itself in (study.json), the report over the seed
# folders, and the dry run of --seeds 2: two chains and one report after both.
#   tests/slurm/test_stage_inputs.sh REPO
set -euo pipefail
repo="$(realpath "$1")"
cd "$repo"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# The fake xomni: one line per call in calls.log (arguments joined by '|'). `data synth` makes
# the synth.out folder; `train` makes RUN.DIR/RUN.NAME/checkpoints/ckpt-<FAKE_STEP or 3>.h5, or
# exits FAKE_STATUS when set, or makes nothing with FAKE_NO_CHECKPOINT.
mkdir -p "$work/bin"
cat > "$work/bin/xomni" <<'FAKE'
#!/usr/bin/env bash
set -euo pipefail
(IFS='|'; echo "$*") >> "$FAKE_LOG"
value() {  # value KEY ARGS...: the last --set KEY=V
  local key="$1" v="" prev=""
  shift
  for a in "$@"; do
    [[ "$prev" == --set && "$a" == "$key="* ]] && v="${a#*=}"
    prev="$a"
  done
  echo "$v"
}
if [[ "$1 $2" == "data synth" ]]; then
  out=$(value synth.out "$@")
  mkdir -p "$out"
  touch "$out/manifest.json"
  exit 0
fi
prev=""
out=""
for a in "$@"; do [[ "$prev" == --out ]] && out="$a"; prev="$a"; done
if [[ "$1" == data && "$2" == mm-* ]]; then  # mm-tokenizer / mm-pack: make --out
  [[ "$2" == mm-pack ]] && mkdir -p "$out" || touch "$out"
  exit 0
fi
# prompts: the set files; realism: the data folder; eval, bon, report study: their files in --out.
case "$1 ${2:-}" in
  "data prompts") mkdir -p "$out" && touch "$out"/{geneval,text_short,vqa_scene,train}.jsonl && exit 0 ;;
  "data realism") mkdir -p "$out/train" "$out/heldout" && exit 0 ;;
  "eval "* | "image eval") mkdir -p "$out" && echo '{}' > "$out/results.json" && exit 0 ;;
  "bon "*) mkdir -p "$out" && echo '{}' > "$out/bon.json" && exit 0 ;;
  "report study") mkdir -p "$out" && echo '<html></html>' > "$out/report.html" && exit 0 ;;
esac
[[ "$1" == train ]] || { echo "fake xomni: unexpected command $*" >&2; exit 1; }
[[ -z "${FAKE_STATUS:-}" ]] || exit "$FAKE_STATUS"
[[ -z "${FAKE_NO_CHECKPOINT:-}" ]] || exit 0
dir="$(value run.dir "$@")/$(value run.name "$@")/checkpoints"
mkdir -p "$dir"
touch "$dir/$(printf 'ckpt-%08d.h5' "${FAKE_STEP:-3}")"
FAKE
chmod +x "$work/bin/xomni"
export XOMNI_BIN="$work/bin/xomni" XOMNI_RUN_ROOT="$work/runs" XOMNI_GPUS_PER_NODE=0
export XOMNI_SITE="$repo/slurm/site.sh" FAKE_LOG="$work/calls.log" OMP_NUM_THREADS=1
unset SLURM_JOB_ID SLURM_NTASKS SLURM_JOB_NUM_NODES XOMNI_ARRAY_SETS

# Job files as the lead's would be: run.stage picks the trainer; train.steps = 3.
for s in siglip vq decoder; do
  printf '[run]\nstage = "%s"\n\n[train]\nsteps = 3\nbatch_size = 4\n\n[data]\ntrain = "nowhere"\n' "$s" \
    > "$work/codec_$s.toml"
done
printf '[train]\nsteps = 3\nbatch_size = 4\n' > "$work/lm.toml"
printf '[run]\nstage = "vq"\n\n[train]\nsteps = 3\n' > "$work/no_data.toml"

last_call() { tail -n 1 "$FAKE_LOG"; }
output() { grep "^$2=" "$1/outputs.env" | tail -n 1 | cut -d= -f2-; }
run_stage() {  # run_stage STAGE ARGS...: the stage script's output, failing the test if it fails
  local out
  out=$(slurm/stages/"$1".sbatch "${@:2}" 2>&1) || fail "$1 ${*:2} failed: $out"
}
refused() {  # refused MESSAGE STAGE ARGS...: the stage script fails naming MESSAGE, writes no outputs
  local want="$1" err dir=""
  shift
  local -a args=("${@:2}")
  for ((i = 0; i < ${#args[@]}; i++)); do [[ "${args[i]}" == --run-dir ]] && dir="${args[i + 1]}"; done
  if err=$(slurm/stages/"$1".sbatch "${@:2}" 2>&1); then fail "accepted: $* ($err)"; fi
  grep -qF -- "$want" <<< "$err" || fail "$*: expected '$want', got: $err"
  [[ -z "$dir" || ! -e "$dir/outputs.env" ]] || fail "$*: wrote $dir/outputs.env"
}

# 0. prompts writes the prompt sets into its run directory; the chain carries the folder on.
run_stage prompts jobs/tiny/xomni_study.toml --set prompts.train_count=64 --run-dir "$work/prompts" -- --train-seed 5
[[ "$(last_call)" == "data|prompts|--out|$work/prompts/prompts|--train-count|64|--train-seed|5" ]] ||
  fail "prompts command: $(last_call)"
[[ "$(output "$work/prompts" prompts)" == "$work/prompts/prompts" ]] || fail "prompts outputs: $(cat "$work/prompts/outputs.env")"

# 1. synth writes the images into its run directory and names them.
run_stage synth jobs/tiny/synth.toml --set synth.scenes=2 --from "$work/prompts" --run-dir "$work/synth"
[[ "$(last_call)" == "data|synth|jobs/tiny/synth.toml|--set|synth.scenes=2|--set|synth.out=$work/synth/images|--overwrite" ]] ||
  fail "synth command: $(last_call)"
[[ "$(output "$work/synth" images)" == "$work/synth/images" && -d "$work/synth/images" ]] ||
  fail "synth outputs: $(cat "$work/synth/outputs.env")"

# 2. siglip trains on those images; its own --set comes first, the mapping and the layout after.
run_stage siglip "$work/codec_siglip.toml" --set train.lr=0.1 --from "$work/synth" --run-dir "$work/siglip"
want="train|$work/codec_siglip.toml|--set|train.lr=0.1|--set|data.train=$work/synth/images"
want+="|--set|parallel.dp=1|--set|run.dir=$work|--set|run.name=siglip"
[[ "$(last_call)" == "$want" ]] || fail "siglip command: $(last_call)"
[[ "$(output "$work/siglip" checkpoint)" == "$work/siglip/checkpoints/ckpt-00000003.h5" &&
  "$(output "$work/siglip" checkpoint_stage)" == siglip &&
  "$(output "$work/siglip" images)" == "$work/synth/images" ]] ||
  fail "siglip outputs: $(cat "$work/siglip/outputs.env")"
grep -q '^dp=1$' "$work/siglip/launch.env" || fail "siglip launch.env: $(cat "$work/siglip/launch.env")"

# 3. vq starts from siglip's checkpoint, on the images siglip carried forward.
run_stage vq "$work/codec_vq.toml" --from "$work/siglip" --run-dir "$work/vq"
want="train|$work/codec_vq.toml|--set|tokenizer.checkpoint=$work/siglip/checkpoints/ckpt-00000003.h5"
want+="|--set|data.train=$work/synth/images|--set|parallel.dp=1|--set|run.dir=$work|--set|run.name=vq"
[[ "$(last_call)" == "$want" ]] || fail "vq command: $(last_call)"
[[ "$(output "$work/vq" checkpoint)" == "$work/vq/checkpoints/ckpt-00000003.h5" &&
  "$(output "$work/vq" checkpoint_stage)" == vq ]] || fail "vq outputs: $(cat "$work/vq/outputs.env")"

# 4. decoder's frozen tokenizer is vq's checkpoint.
run_stage decoder "$work/codec_decoder.toml" --from "$work/vq" --run-dir "$work/decoder"
want="train|$work/codec_decoder.toml|--set|tokenizer.checkpoint=$work/vq/checkpoints/ckpt-00000003.h5"
want+="|--set|data.train=$work/synth/images|--set|parallel.dp=1|--set|run.dir=$work|--set|run.name=decoder"
[[ "$(last_call)" == "$want" ]] || fail "decoder command: $(last_call)"
[[ "$(output "$work/decoder" checkpoint)" == "$work/decoder/checkpoints/ckpt-00000003.h5" &&
  "$(output "$work/decoder" checkpoint_stage)" == decoder &&
  "$(output "$work/decoder" run_dir_siglip)" == "$work/siglip" ]] ||
  fail "decoder outputs: $(cat "$work/decoder/outputs.env")"

# 4b. codec_eval: xomni image eval of the decoder the chain carries (as --tokenizer too: it names
# its vq checkpoint) on held-out images; it keeps the checkpoint the chain carries.
refused "codec_eval: no held-out images" codec_eval jobs/tiny/xomni_study.toml --from "$work/decoder" --run-dir "$work/ce0"
refused "codec_eval: no decoder" codec_eval jobs/tiny/xomni_study.toml --from "$work/vq" --run-dir "$work/ce1"
run_stage codec_eval jobs/tiny/xomni_study.toml --set codec_eval.dataset="$work/held-out" --set codec_eval.count=4 \
  --from "$work/decoder" --run-dir "$work/codec-eval" -- --size 32
dec_ckpt="$work/decoder/checkpoints/ckpt-00000003.h5"
[[ "$(last_call)" == "image|eval|--tokenizer|$dec_ckpt|--decoder|$dec_ckpt|--dataset|$work/held-out|--out|$work/codec-eval|--count|4|--steps|16|--retrieval|100|--no-ocr|--size|32" ]] ||
  fail "codec_eval command: $(last_call)"
[[ "$(output "$work/codec-eval" codec_results)" == "$work/codec-eval/results.json" &&
  "$(output "$work/codec-eval" checkpoint)" == "$dec_ckpt" ]] || fail "codec_eval outputs: $(cat "$work/codec-eval/outputs.env")"

# synth's validation set: the same job with --valid-set added, into images-valid; the image
# stages take it as data.valid.
run_stage synth jobs/tiny/synth.toml --set synth.scenes=2 --valid-set synth.seed=2 --valid-set synth.scenes=1 \
  --run-dir "$work/synthv"
[[ "$(tail -n 2 "$FAKE_LOG" | head -n 1)" == "data|synth|jobs/tiny/synth.toml|--set|synth.scenes=2|--set|synth.out=$work/synthv/images|--overwrite" &&
  "$(last_call)" == "data|synth|jobs/tiny/synth.toml|--set|synth.scenes=2|--set|synth.seed=2|--set|synth.scenes=1|--set|synth.out=$work/synthv/images-valid|--overwrite" ]] ||
  fail "synth with a validation set: $(tail -n 2 "$FAKE_LOG")"
[[ "$(output "$work/synthv" images_valid)" == "$work/synthv/images-valid" ]] || fail "synth outputs: $(cat "$work/synthv/outputs.env")"
run_stage siglip "$work/codec_siglip.toml" --from "$work/synthv" --run-dir "$work/siglipv"
[[ "$(last_call)" == "train|$work/codec_siglip.toml|--set|data.train=$work/synthv/images|--set|data.valid=$work/synthv/images-valid|--set|parallel.dp=1|--set|run.dir=$work|--set|run.name=siglipv" ]] ||
  fail "siglip with validation images: $(last_call)"

# synth's text images (as `xomni pipeline`'s text_set): --text-set into images-text, and with a
# validation set images-text-valid (--valid-set, --text-set, then --text-valid-set); the codec
# stages take them as data.train_text / data.valid_text, codec_eval reads them with OCR into
# text-images, mmdata adds them to the tokenizer's and every pack's images.
run_stage synth jobs/tiny/synth.toml --set synth.scenes=2 --valid-set synth.seed=2 \
  --text-set synth.scenes=0 --text-set synth.text_short=3 --text-valid-set synth.text_short=1 \
  --run-dir "$work/syntht"
[[ "$(tail -n 2 "$FAKE_LOG" | head -n 1)" == "data|synth|jobs/tiny/synth.toml|--set|synth.scenes=2|--set|synth.scenes=0|--set|synth.text_short=3|--set|synth.out=$work/syntht/images-text|--overwrite" &&
  "$(last_call)" == "data|synth|jobs/tiny/synth.toml|--set|synth.scenes=2|--set|synth.seed=2|--set|synth.scenes=0|--set|synth.text_short=3|--set|synth.text_short=1|--set|synth.out=$work/syntht/images-text-valid|--overwrite" ]] ||
  fail "synth with text images: $(tail -n 2 "$FAKE_LOG")"
[[ "$(output "$work/syntht" images_text)" == "$work/syntht/images-text" &&
  "$(output "$work/syntht" images_text_valid)" == "$work/syntht/images-text-valid" ]] ||
  fail "synth text outputs: $(cat "$work/syntht/outputs.env")"
run_stage siglip "$work/codec_siglip.toml" --from "$work/syntht" --run-dir "$work/siglipt"
[[ "$(last_call)" == "train|$work/codec_siglip.toml|--set|data.train=$work/syntht/images|--set|data.valid=$work/syntht/images-valid|--set|data.train_text=$work/syntht/images-text|--set|data.valid_text=$work/syntht/images-text-valid|--set|parallel.dp=1|--set|run.dir=$work|--set|run.name=siglipt" ]] ||
  fail "siglip with text images: $(last_call)"
run_stage vq "$work/codec_vq.toml" --from "$work/siglipt" --run-dir "$work/vqt"
[[ "$(last_call)" == *"|--set|data.train_text=$work/syntht/images-text|--set|data.valid_text=$work/syntht/images-text-valid|"* ]] ||
  fail "vq with text images: $(last_call)"
run_stage decoder "$work/codec_decoder.toml" --from "$work/vqt" --run-dir "$work/dect"
[[ "$(last_call)" == *"|--set|data.train_text=$work/syntht/images-text|--set|data.valid_text=$work/syntht/images-text-valid|"* ]] ||
  fail "decoder with text images: $(last_call)"
run_stage codec_eval jobs/tiny/xomni_study.toml --set codec_eval.count=4 --from "$work/dect" --run-dir "$work/cet"
dect="$work/dect/checkpoints/ckpt-00000003.h5"
[[ "$(tail -n 2 "$FAKE_LOG" | head -n 1)" == "image|eval|--tokenizer|$dect|--decoder|$dect|--dataset|$work/syntht/images-valid|--out|$work/cet|--count|4|--steps|16|--retrieval|100|--no-ocr" &&
  "$(last_call)" == "image|eval|--tokenizer|$dect|--decoder|$dect|--dataset|$work/syntht/images-text-valid|--out|$work/cet/text-images|--count|4|--steps|16|--retrieval|100" ]] ||
  fail "codec_eval with text images: $(tail -n 2 "$FAKE_LOG")"
[[ "$(output "$work/cet" codec_text_results)" == "$work/cet/text-images/results.json" ]] ||
  fail "codec_eval text outputs: $(cat "$work/cet/outputs.env")"
printf '[mmdata]\nvocab_size = 300\n' > "$work/mmdata_t.toml"
run_stage mmdata "$work/mmdata_t.toml" --from "$work/dect" --run-dir "$work/mmdatat"
dt="$work/mmdatat/data"
grep -qF "data|mm-tokenizer|--images|$work/syntht/images|--images|$work/syntht/images-text|--vocab-size|300" "$FAKE_LOG" ||
  fail "mm-tokenizer with text images: $(grep mm-tokenizer "$FAKE_LOG" | tail -n 1)"
for want in "--images|$work/syntht/images|--images|$work/syntht/images-text|--kind|generation|--out|$dt/gen|" \
  "--images|$work/syntht/images-valid|--images|$work/syntht/images-text-valid|--kind|mixture|--out|$dt/mix-valid|"; do
  grep -qF -- "$want" "$FAKE_LOG" || fail "mm-pack with text images: $(grep 'mm-pack' "$FAKE_LOG" | tail -n 8)"
done

# Without --from the job file's own keys serve (nothing is mapped).
run_stage vq "$work/codec_vq.toml" --set tokenizer.checkpoint=/x.h5 --run-dir "$work/vq_alone"
[[ "$(last_call)" == "train|$work/codec_vq.toml|--set|tokenizer.checkpoint=/x.h5|--set|parallel.dp=1|--set|run.dir=$work|--set|run.name=vq_alone" ]] ||
  fail "vq without --from: $(last_call)"

# 5. lm maps token shards; a tokenizer run without data_valid maps data.train alone.
mkdir -p "$work/tok"
printf 'run_dir_tokenizer=%s\ndata_train=%s\n' "$work/tok" "$work/tok/train" > "$work/tok/outputs.env"
run_stage lm "$work/lm.toml" --from "$work/tok" --run-dir "$work/lm"
[[ "$(last_call)" == "train|$work/lm.toml|--set|data.train=$work/tok/train|--set|parallel.dp=1|--set|run.dir=$work|--set|run.name=lm" ]] ||
  fail "lm command: $(last_call)"
[[ "$(output "$work/lm" checkpoint_stage)" == lm ]] || fail "lm outputs: $(cat "$work/lm/outputs.env")"
echo "$work/tok/valid" | sed 's/^/data_valid=/' >> "$work/tok/outputs.env"
run_stage lm "$work/lm.toml" --from "$work/tok" --run-dir "$work/lm2"
[[ "$(last_call)" == *"|--set|data.train=$work/tok/train|--set|data.valid=$work/tok/valid|"* ]] ||
  fail "lm with data_valid: $(last_call)"

# 5b. The X-Omni chain: mmdata takes the synth images, the vq and decoder checkpoints the decoder
# run carries; lm0 (lm.sbatch) trains on its text shards from scratch; s1 starts from lm0's
# checkpoint on the generation shards, s2 from s1's on the mixture.
printf '[mmdata]\nvalid_images = "/v"\nvocab_size = 300\nquestions_per_document = 4\n' > "$work/mmdata.toml"
printf '[model]\nbackbone = "xomni"\n[train]\nsteps = 3\nbatch_size = 4\n' > "$work/xo.toml"
run_stage mmdata "$work/mmdata.toml" --from "$work/decoder" --run-dir "$work/mmdata"
d="$work/mmdata/data"
grep -qF "data|mm-tokenizer|--images|$work/synth/images|--vocab-size|300|--out|$d/tokenizer.json" "$FAKE_LOG" ||
  fail "mm-tokenizer call: $(grep mm-tokenizer "$FAKE_LOG")"
grep -qF "data|mm-pack|--tokenizer|$d/tokenizer.json|--image-tokenizer|$work/vq/checkpoints/ckpt-00000003.h5|--decoder|$work/decoder/checkpoints/ckpt-00000003.h5|--images|$work/synth/images|--kind|mixture|--out|$d/mix|--overwrite|--questions-per-document|4" "$FAKE_LOG" ||
  fail "mm-pack call: $(grep 'mm-pack' "$FAKE_LOG" | tail -n 3)"
[[ "$(output "$work/mmdata" data_gen)" == "$d/gen" && "$(output "$work/mmdata" data_mix_valid)" == "$d/mix-valid" &&
  "$(output "$work/mmdata" data_train)" == "$d/text" && -z "$(output "$work/mmdata" checkpoint)" ]] ||
  fail "mmdata outputs: $(cat "$work/mmdata/outputs.env")"
run_stage lm "$work/lm.toml" --from "$work/mmdata" --run-dir "$work/lm0"
[[ "$(last_call)" == "train|$work/lm.toml|--set|data.train=$d/text|--set|data.valid=$d/text-valid|--set|parallel.dp=1|--set|run.dir=$work|--set|run.name=lm0" ]] ||
  fail "lm0 command: $(last_call)"
run_stage s1 "$work/xo.toml" --from "$work/lm0" --run-dir "$work/s1"
[[ "$(last_call)" == "train|$work/xo.toml|--set|model.init_checkpoint=$work/lm0/checkpoints/ckpt-00000003.h5|--set|data.train=$d/gen|--set|data.valid=$d/gen-valid|--set|parallel.dp=1|--set|run.dir=$work|--set|run.name=s1" ]] ||
  fail "s1 command: $(last_call)"
run_stage s2 "$work/xo.toml" --from "$work/s1" --run-dir "$work/s2"
[[ "$(last_call)" == *"|--set|model.init_checkpoint=$work/s1/checkpoints/ckpt-00000003.h5|--set|data.train=$d/mix|"* &&
  "$(output "$work/s2" checkpoint_stage)" == s2 ]] || fail "s2 command: $(last_call)"
refused "s2: the previous stages' checkpoint $work/lm0/checkpoints/ckpt-00000003.h5 is the lm stage's; s2 starts from the s1 stage's" \
  s2 "$work/xo.toml" --from "$work/lm0" --run-dir "$work/r13"
refused "s1: no weights to start from: give --from the lm stage's run directory or set model.init_checkpoint" \
  s1 "$work/xo.toml" --from "$work/mmdata" --run-dir "$work/r14"
# 5c. GRPO: rl starts from sft's final checkpoint (its data's multimodal.json names the rest) and
# refuses another stage's checkpoint or a job of another run.stage.
printf '[run]\nstage = "rl"\n[train]\nsteps = 3\nbatch_size = 4\n' > "$work/rl.toml"
run_stage s3 "$work/xo.toml" --from "$work/s2" --run-dir "$work/s3"
run_stage sft "$work/xo.toml" --from "$work/s3" --run-dir "$work/sft"
run_stage rl "$work/rl.toml" --from "$work/sft" --run-dir "$work/rl"
[[ "$(last_call)" == "train|$work/rl.toml|--set|model.init_checkpoint=$work/sft/checkpoints/ckpt-00000003.h5|--set|parallel.dp=1|--set|run.dir=$work|--set|run.name=rl" &&
  "$(output "$work/rl" checkpoint_stage)" == rl ]] || fail "rl command: $(last_call)"
refused "rl: the previous stages' checkpoint $work/s3/checkpoints/ckpt-00000003.h5 is the s3 stage's; rl starts from the sft stage's" \
  rl "$work/rl.toml" --from "$work/s3" --run-dir "$work/r15"
refused "run.stage = \"lm\" but slurm/stages/rl.sbatch runs the rl stage" \
  rl "$work/xo.toml" --from "$work/sft" --run-dir "$work/r16"

# 5d. The X-Omni study's evaluation, reward and report stages, each recording itself in a seed
# folder (--seed-dir, --as): xeval evaluates the checkpoint the chain carries (sft's here) on the
# prompts stage's sets, --seen the synth images, --seed the study's; realism renders with the
# decoder and vq checkpoints the chain carries and trains on that data; bon samples sft's model;
# neither replaces the model checkpoint the chain carries, so rl still starts from sft's.
sd="$work/study/seed-3"
mkdir -p "$sd"
printf 'name=xo\nscale=smoke\nseed=3\n' > "$sd/study.env"
study=(--seed 3 --seed-dir "$sd")
P="$work/prompts/prompts"
sft_ckpt="$work/sft/checkpoints/ckpt-00000003.h5"
run_stage xeval jobs/tiny/xomni_study.toml --set xeval.sets=geneval,vqa_scene --set xeval.count=2 \
  --set xeval.cfg=1,3 --from "$work/sft" --run-dir "$work/eval-sft" "${study[@]}" --as eval-sft -- --extra 1
[[ "$(last_call)" == "eval|--checkpoint|$sft_ckpt|--prompts|$P/geneval.jsonl|--prompts|$P/vqa_scene.jsonl|--seen|$work/synth/images|--seed|3|--out|$work/eval-sft|--cfg|1,3|--count|2|--extra|1" ]] ||
  fail "xeval command: $(last_call)"
[[ "$(output "$work/eval-sft" results)" == "$work/eval-sft/results.json" &&
  "$(output "$work/eval-sft" checkpoint)" == "$sft_ckpt" && "$(output "$work/eval-sft" run_dir_eval-sft)" == "$work/eval-sft" ]] ||
  fail "xeval outputs: $(cat "$work/eval-sft/outputs.env")"
run_stage realism jobs/tiny/realism.toml --set train.steps=3 --from "$work/eval-sft" --run-dir "$work/realism" \
  "${study[@]}" --as realism -- --count 8
[[ "$(tail -n 2 "$FAKE_LOG" | head -n 1)" == "data|realism|--decoder|$work/decoder/checkpoints/ckpt-00000003.h5|--tokenizer|$work/vq/checkpoints/ckpt-00000003.h5|--images|$work/synth/images|--seed|3|--out|$work/realism/data|--overwrite|--count|8" ]] ||
  fail "realism data command: $(tail -n 2 "$FAKE_LOG" | head -n 1)"
[[ "$(last_call)" == "train|jobs/tiny/realism.toml|--set|run.seed=3|--set|train.steps=3|--set|data.train=$work/realism/data/train|--set|data.valid=$work/realism/data/heldout|--set|parallel.dp=1|--set|run.dir=$work|--set|run.name=realism" ]] ||
  fail "realism train command: $(last_call)"
[[ "$(output "$work/realism" realism_checkpoint)" == "$work/realism/checkpoints/ckpt-00000003.h5" &&
  "$(output "$work/realism" checkpoint)" == "$sft_ckpt" ]] || fail "realism outputs: $(cat "$work/realism/outputs.env")"
run_stage bon jobs/tiny/xomni_rl.toml --set rl.group_size=2 --from "$work/realism" --run-dir "$work/bon" \
  "${study[@]}" --as bon -- --prompts 2
[[ "$(last_call)" == "bon|jobs/tiny/xomni_rl.toml|--set|run.seed=3|--set|rl.group_size=2|--set|model.init_checkpoint=$sft_ckpt|--out|$work/bon|--prompts|2" ]] ||
  fail "bon command: $(last_call)"
[[ "$(output "$work/bon" bon)" == "$work/bon/bon.json" ]] || fail "bon outputs: $(cat "$work/bon/outputs.env")"
run_stage rl "$work/rl.toml" --from "$work/bon" --run-dir "$work/rl3" "${study[@]}" --as rl
[[ "$(last_call)" == "train|$work/rl.toml|--set|run.seed=3|--set|model.init_checkpoint=$sft_ckpt|--set|parallel.dp=1|--set|run.dir=$work|--set|run.name=rl3" ]] ||
  fail "rl after bon: $(last_call)"
run_stage xeval jobs/tiny/xomni_study.toml --set xeval.sets=geneval --set xeval.decoder_steps=4 --from "$work/rl3" --run-dir "$work/eval-rl" \
  "${study[@]}" --as eval-rl
[[ "$(last_call)" == "eval|--checkpoint|$work/rl3/checkpoints/ckpt-00000003.h5|--prompts|$P/geneval.jsonl|--seen|$work/synth/images|--seed|3|--out|$work/eval-rl|--decoder-steps|4" ]] ||
  fail "xeval after rl: $(last_call)"
# The seed folder: a link per stage and study.json in `xomni pipeline`'s format, stages in the
# order they ran.
for s in eval-sft realism bon rl eval-rl; do
  [[ "$(readlink "$sd/$s")" == "$work/${s/#rl/rl3}" ]] || fail "seed folder link $s -> $(readlink "$sd/$s")"
done
for line in '  "name": "xo",' '  "scale": "smoke",' '  "seed": 3,'; do
  grep -qxF "$line" "$sd/study.json" || fail "study.json lacks '$line': $(cat "$sd/study.json")"
done
[[ "$(grep -o '{"name": "[a-z-]*", "kind": "[a-z]*", "status": "done"' "$sd/study.json" | awk -F'"' '{print $4 "/" $8}' | paste -sd ' ')" == \
  "eval-sft/eval realism/train bon/eval rl/train eval-rl/eval" ]] || fail "study.json stages: $(cat "$sd/study.json")"
grep -qF '"bon": {"job": "'"$repo"'/jobs/tiny/xomni_rl.toml", "script": "bon", "set": ["rl.group_size=2"], "args": ["--prompts", "2"]}' \
  "$sd/study.json" || fail "study.json settings: $(cat "$sd/study.json")"
if command -v python3 > /dev/null; then
  python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert [s["dir"] for s in d["stages"]] == ["eval-sft", "realism", "bon", "rl", "eval-rl"]' \
    "$sd/study.json" || fail "study.json is not the JSON expected: $(cat "$sd/study.json")"
fi
run_stage report jobs/tiny/xomni_study.toml --study-root "$work/study" --run-dir "$work/report"
[[ "$(last_call)" == "report|study|$work/study|--out|$work/report/report" &&
  "$(output "$work/report" report)" == "$work/report/report/report.html" ]] || fail "report command: $(last_call)"
calls=$(wc -l < "$FAKE_LOG")
refused "report: $work/prompts holds no seed folder with a study.json" report jobs/tiny/xomni_study.toml \
  --study-root "$work/prompts" --run-dir "$work/r20"
refused "xeval: prompt set 'nope' has no file $P/nope.jsonl" xeval jobs/tiny/xomni_study.toml \
  --set xeval.sets=nope --from "$work/sft" --run-dir "$work/r21"
refused "xeval: no checkpoint to evaluate" xeval jobs/tiny/xomni_study.toml --from "$work/prompts" --run-dir "$work/r22"
refused "bon: the previous stages' checkpoint $work/s3/checkpoints/ckpt-00000003.h5 is the s3 stage's; bon starts from the sft stage's" \
  bon jobs/tiny/xomni_rl.toml --from "$work/s3" --run-dir "$work/r23"
refused "realism: no decoder" realism jobs/tiny/realism.toml --from "$work/synth" --run-dir "$work/r24"
refused "xeval: --seed-dir needs --as NAME" xeval jobs/tiny/xomni_study.toml --from "$work/sft" --seed-dir "$sd"
[[ $(wc -l < "$FAKE_LOG") == "$calls" ]] || fail "a refused stage ran xomni: $(tail -n 3 "$FAKE_LOG")"

# 6. Refusals, before anything runs (nothing new in calls.log) unless the run itself is at fault.
calls=$(wc -l < "$FAKE_LOG")
refused "vq: the previous stages' checkpoint $work/decoder/checkpoints/ckpt-00000003.h5 is the decoder stage's; vq starts from the siglip stage's" \
  vq "$work/codec_vq.toml" --from "$work/decoder" --run-dir "$work/r1"
refused "decoder: the previous stages' checkpoint $work/siglip/checkpoints/ckpt-00000003.h5 is the siglip stage's; decoder starts from the vq stage's" \
  decoder "$work/codec_decoder.toml" --from "$work/siglip" --run-dir "$work/r2"
refused "siglip: the previous stages left a checkpoint ($work/siglip/checkpoints/ckpt-00000003.h5)" \
  siglip "$work/codec_siglip.toml" --from "$work/siglip" --run-dir "$work/r3"
refused "vq: no encoder to start from: give --from the siglip stage's run directory or set tokenizer.checkpoint" \
  vq "$work/codec_vq.toml" --run-dir "$work/r4"
refused "vq: no images to train on" vq "$work/no_data.toml" --set tokenizer.checkpoint=/x.h5 --run-dir "$work/r5"
refused "$work/codec_vq.toml: run.stage = \"vq\" but slurm/stages/siglip.sbatch runs the siglip stage" \
  siglip "$work/codec_vq.toml" --from "$work/synth" --run-dir "$work/r6"
refused "$work/lm.toml: run.stage = \"lm\" but slurm/stages/decoder.sbatch runs the decoder stage" \
  decoder "$work/lm.toml" --from "$work/vq" --run-dir "$work/r7"
refused "run.stage = \"siglip\" but slurm/stages/lm.sbatch runs the lm stage" \
  lm "$work/codec_siglip.toml" --run-dir "$work/r8"
refused "siglip: unknown option '--form'" siglip "$work/codec_siglip.toml" --form "$work/synth"
refused "vq: --from $work/nowhere has no outputs.env" vq "$work/codec_vq.toml" --from "$work/nowhere" --run-dir "$work/r9"
[[ $(wc -l < "$FAKE_LOG") == "$calls" ]] || fail "a refused stage ran xomni: $(tail -n 3 "$FAKE_LOG")"
FAKE_STEP=2 refused "vq: the newest checkpoint $work/r10/checkpoints/ckpt-00000002.h5 is at step 2, not train.steps=3" \
  vq "$work/codec_vq.toml" --from "$work/siglip" --run-dir "$work/r10"
FAKE_NO_CHECKPOINT=1 refused "siglip: training finished but left no checkpoint in $work/r12/checkpoints" \
  siglip "$work/codec_siglip.toml" --from "$work/synth" --run-dir "$work/r12"
if FAKE_STATUS=5 slurm/stages/decoder.sbatch "$work/codec_decoder.toml" --from "$work/vq" --run-dir "$work/r11" \
  > /dev/null 2>&1; then
  fail "a failed run succeeded"
else
  status=$?
  ((status == 5)) || fail "a failed run exited $status, not xomni's 5"
fi
[[ ! -e "$work/r11/outputs.env" ]] || fail "a failed run wrote outputs.env"

# 7. Submission: submit.sh refuses a job file of another stage before sbatch; the codec pipeline
# (its job files swapped for these) chains synth -> siglip -> vq -> decoder with --from.
if err=$(slurm/submit.sh --dry-run --ntasks=2 vq "$work/codec_siglip.toml" 2>&1); then fail "submit.sh: wrong stage accepted"; fi
grep -qF "run.stage = \"siglip\" but slurm/stages/vq.sbatch runs the vq stage" <<< "$err" || fail "submit.sh: $err"
out=$(slurm/submit.sh --dry-run --ntasks=2 vq "$work/codec_siglip.toml" --set run.stage=vq) ||
  fail "submit.sh: --set run.stage not counted"
sed -E "s#jobs/tiny/codec_(siglip|vq|decoder)#$work/codec_\1#" slurm/pipelines/codec.toml > "$work/codec.toml"
out=$(slurm/submit_pipeline.sh --dry-run "$work/codec.toml")
out=${out//\\\$/\$}
[[ $(grep -c '^sbatch ' <<< "$out") == 4 ]] || fail "codec pipeline dry run: $out"
for pair in "synth.sbatch jobs/tiny/codec_synth.toml" \
  "siglip.sbatch $work/codec_siglip.toml --from $XOMNI_RUN_ROOT/synth-\$JOB_synth" \
  "vq.sbatch $work/codec_vq.toml --from $XOMNI_RUN_ROOT/siglip-\$JOB_siglip" \
  "decoder.sbatch $work/codec_decoder.toml --from $XOMNI_RUN_ROOT/vq-\$JOB_vq"; do
  grep -qF -- "$pair" <<< "$out" || fail "codec pipeline lacks '$pair': $out"
done
grep -qF -- "--dependency=afterok:\$JOB_vq" <<< "$out" || fail "decoder does not wait for vq: $out"
sed 's/^stages = .*/stages = ["siglip", "synth"]/' "$work/codec.toml" > "$work/bad.toml"
if err=$(slurm/submit_pipeline.sh --dry-run "$work/bad.toml" 2>&1); then fail "out of order accepted"; fi
grep -q "stage 'synth' is out of order" <<< "$err" || fail "$err"

# 8. --seeds 2: two chains of the study (each stage with its chain's --seed, seed folder and
# --from), then one report job after the last job of both chains, on the study folder.
out=$(slurm/submit_pipeline.sh --dry-run --seeds 2 --study-root "$work/st" slurm/pipelines/xomni_smoke.toml)
out=${out//\\\$/\$}
[[ $(grep -c '^sbatch ' <<< "$out") == 37 ]] || fail "--seeds 2: $(grep -c '^sbatch ' <<< "$out") sbatch commands, not 2 x 18 + 1"
for k in 1 2; do
  grep -qF -- "xeval.sbatch jobs/tiny/xomni_study.toml --set xeval.count=2 --set xeval.cfg=1\,3 --set xeval.decoder_steps=1 --from $XOMNI_RUN_ROOT/rl-\$JOB_rl_$k --seed $k --seed-dir $work/st/seed-$k --as eval-rl" <<< "$out" ||
    fail "seed $k: no eval-rl after its rl: $out"
  grep -qF -- "--dependency=afterok:\$JOB_prompts_$k --kill-on-invalid-dep=yes $repo/slurm/stages/synth.sbatch jobs/tiny/codec_synth.toml --set synth.scenes=48 --valid-set synth.seed=2 --valid-set synth.scenes=16 --from $XOMNI_RUN_ROOT/prompts-\$JOB_prompts_$k --seed $k" <<< "$out" ||
    fail "seed $k: synth does not follow its prompts: $out"
  grep -qF -- "realism.sbatch jobs/tiny/realism.toml" <<< "$(grep -F -- "--seed $k --seed-dir" <<< "$out")" || fail "seed $k: no realism"
  [[ $(grep -cF -- "--seed $k --seed-dir $work/st/seed-$k --as " <<< "$out") == 18 &&
    $(grep -cF -- "--job-name=xomni-xomni-smoke-seed$k-" <<< "$out") == 18 ]] || fail "seed $k: not 18 stages"
done
report=$(grep -F report.sbatch <<< "$out")
[[ "$report" == *"--dependency=afterok:\$JOB_eval-rl_1:\$JOB_eval-rl_2 --kill-on-invalid-dep=yes $repo/slurm/stages/report.sbatch jobs/tiny/xomni_study.toml --study-root $work/st "* ]] ||
  fail "the report job: $report"
[[ "$(tail -n 1 <<< "$out")" == "$report" ]] || fail "the report is not submitted last: $out"
grep -qF -- "bon.sbatch jobs/tiny/xomni_rl.toml --set rl.group_size=2 --set rl.decoder_steps=1 --set rl.prompt_count=64 --from $XOMNI_RUN_ROOT/realism-\$JOB_realism_2 --seed 2 --seed-dir $work/st/seed-2 --as bon -- --prompts 2" <<< "$out" ||
  fail "bon's args: $out"
# Without --seeds: one chain, the job files' own seeds, and the placeholders of one chain.
out=$(slurm/submit_pipeline.sh --dry-run --study-root "$work/st" slurm/pipelines/xomni.toml)
out=${out//\\\$/\$}
[[ $(grep -c '^sbatch ' <<< "$out") == 19 ]] || fail "xomni.toml: $out"
grep -q -- "--seed [0-9]" <<< "$out" && fail "a --seed without --seeds: $out"
grep -qF -- "--dependency=afterok:\$JOB_eval-rl --kill-on-invalid-dep=yes $repo/slurm/stages/report.sbatch" <<< "$out" ||
  fail "xomni.toml's report: $out"
if err=$(slurm/submit_pipeline.sh --dry-run --seeds 0 slurm/pipelines/xomni.toml 2>&1); then fail "--seeds 0 accepted"; fi
grep -q "seeds must be a positive integer, got '0'" <<< "$err" || fail "$err"
# CPU-only stages (cpu = true: data, rewards, the report) ask a GPU site for no GPU and take its
# CPU partition; the others keep the site's GPUs.
out=$(XOMNI_GPUS_PER_NODE=4 XOMNI_PARTITION=gpu XOMNI_CPU_PARTITION=cpu \
  slurm/submit_pipeline.sh --dry-run --study-root "$work/st" slurm/pipelines/xomni.toml)
for s in prompts synth mmdata realism report; do
  line=$(grep -F "/stages/$s.sbatch" <<< "$out")
  [[ "$line" == *--partition=cpu* && "$line" != *--gpus* ]] || fail "$s on a GPU site: $line"
done
for s in siglip rl bon xeval; do
  line=$(grep -F "/stages/$s.sbatch" <<< "$out" | head -n 1)
  [[ "$line" == *--partition=gpu* && "$line" == *--gpus-per-node=* ]] || fail "$s on a GPU site: $line"
done
echo "stage inputs ok"
