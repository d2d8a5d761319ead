#!/usr/bin/env bash
# `xomni convert` writes every safetensors tensor into an HDF5 checkpoint bit for bit
# (checked with h5py against the raw safetensors bytes), and fails clearly on a bad source.
set -euo pipefail
xomni="$1"
fixture="$2"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$xomni" convert --from "$fixture" --to "$out" > /dev/null
/usr/bin/python3 - "$fixture/model.safetensors" "$out/ckpt-00000000.h5" <<'PY'
import json, struct, sys
import h5py, numpy as np
st, ckpt = sys.argv[1], sys.argv[2]
raw = open(st, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
with h5py.File(ckpt, "r") as f:
    names = sorted(k for k in header if k != "__metadata__")
    for name in names:
        e = header[name]
        a, b = e["data_offsets"]
        ref = np.frombuffer(raw[8 + n + a:8 + n + b], dtype="<f4").reshape(e["shape"])
        got = f["model/" + name][()]
        assert got.shape == ref.shape and np.array_equal(got, ref), name
    assert "hf_config_json" in f["meta"], list(f["meta"])
print(f"{len(names)} tensors identical")
PY
if "$xomni" convert --from "$out/none" --to "$out/x" 2> "$out/err"; then
  echo "a missing source did not fail" >&2
  exit 1
fi
grep -q "none" "$out/err"
# A folder whose config.json is not a JSON object is refused before anything is written.
mkdir -p "$out/badcfg"
cp "$fixture/model.safetensors" "$out/badcfg/"
echo '{"vocab_size": 96,' > "$out/badcfg/config.json"
if "$xomni" convert --from "$out/badcfg" --to "$out/y" 2> "$out/err"; then
  echo "a malformed config.json was converted" >&2
  exit 1
fi
grep -q "badcfg/config.json: malformed JSON" "$out/err" || { cat "$out/err" >&2; exit 1; }
[[ ! -e "$out/y" ]] || { echo "a refused convert wrote $out/y" >&2; exit 1; }
echo "1 passed, 0 failed"
