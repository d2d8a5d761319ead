#!/usr/bin/env bash
# The stage scripts' arguments and the previous stage's outputs -> --set mapping, outside Slurm,
# with a fake xomni that records its command line and writes the checkpoint a training run would:
# synth -> siglip -> vq -> decoder (images -> data.train, the siglip and vq checkpoints ->
# tokenizer.checkpoint, outputs.env carried forward), lm from token shards with and without
# data_valid, and the refusals (no input, a checkpoint of the wrong stage, run.stage of another
# stage at run time and at submission, a final checkpoint short of train.steps or none at all, a
# failed run's status, unknown options). The codec pipeline's dry run chains the four stages.
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
if [[ "$1" == data && "$2" == mm-* ]]; then  # mm-tokenizer / mm-pack: make --out
  prev=""
  for a in "$@"; do [[ "$prev" == --out ]] && out="$a"; prev="$a"; done
  [[ "$2" == mm-pack ]] && mkdir -p "$out" || touch "$out"
  exit 0
fi
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

# 1. synth writes the images into its run directory and names them.
run_stage synth jobs/tiny/synth.toml --set synth.scenes=2 --run-dir "$work/synth"
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
echo "stage inputs ok"
