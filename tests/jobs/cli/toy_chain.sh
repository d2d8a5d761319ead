# shellcheck shell=bash
# The toy chains the command-line tests train in their working folder (`fail` must be defined):
#   build_toy_codec XOMNI TOY_DIR        the toy codec: siglip -> vq -> decoder, two steps each, on
#                                        16 synthetic 32x32 scenes (TOY_DIR's job files); sets tok
#                                        and dec (the vq and decoder checkpoints, relative paths)
#   build_xomni_toy_chain XOMNI TOY_DIR  that codec, multimodal token shards (mm-tokenizer,
#                                        mm-pack: a 2x2 grid) and a tiny xomni backbone trained on
#                                        them for two steps; sets vq and dec (absolute), V (the
#                                        text vocabulary) and ckpt (the model)
build_toy_codec() {
  local xomni="$1" toy="$2" stage
  cp "$toy"/*.toml .
  cat > synth.toml <<'TOML'
[synth]
seed = 4
out = "scenes"
samples_per_shard = 8
scenes = 16
text_short = 0
text_long = 0
image_size = 32
TOML
  "$xomni" data synth synth.toml > /dev/null
  for stage in siglip vq decoder; do
    "$xomni" train $stage.toml > "$stage.log" 2>&1 || { cat "$stage.log"; fail "training $stage"; }
  done
  tok=runs/vq/checkpoints/ckpt-00000002.h5
  dec=runs/decoder/checkpoints/ckpt-00000002.h5
}

build_xomni_toy_chain() {
  local xomni="$1" toy="$2"
  build_toy_codec "$xomni" "$toy"
  vq="$PWD/$tok"
  dec="$PWD/$dec"
  "$xomni" data mm-tokenizer --images scenes --vocab-size 300 --out tok.json > /dev/null
  "$xomni" data mm-pack --tokenizer tok.json --image-tokenizer "$vq" --decoder "$dec" \
    --images scenes --kind mixture --size 16 --out mm > pack.log 2>&1 || { cat pack.log; fail "mm-pack"; }
  V=$(sed -n 's/.*"text_vocab_size": *\([0-9]*\).*/\1/p' mm/multimodal.json)
  [[ -n "$V" ]] || fail "no text_vocab_size in $(cat mm/multimodal.json)"
  tr -d ' \n' < mm/multimodal.json | grep -q '"grids":\[\[2,2\]\]' ||
    fail "expected the 2x2 grid only: $(cat mm/multimodal.json)"
  cat > xo.toml <<TOML
[run]
name = "xo"
dir = "runs"
seed = 5
[model]
backbone = "xomni"
vocab_size = $V
image_vocab_size = 16
mm_vocab_size = 16
hidden_size = 32
intermediate_size = 64
num_hidden_layers = 3
num_mm_adap_layers = 1
num_mm_head_layers = 1
num_attention_heads = 4
num_key_value_heads = 2
max_position_embeddings = 96
[data]
train = "mm"
[train]
steps = 2
batch_size = 2
seq_len = 48
log_every = 1
checkpoint_every = 2
TOML
  "$xomni" train xo.toml > xo.log 2>&1 || { cat xo.log; fail "training the xomni backbone"; }
  ckpt="$work/runs/xo/checkpoints/ckpt-00000002.h5"
  [[ -f "$ckpt" ]] || fail "no checkpoint: $(ls runs/xo/checkpoints)"
}
