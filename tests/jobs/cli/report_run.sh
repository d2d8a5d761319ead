#!/usr/bin/env bash
# `xomni report run`: on a synthetic metrics.jsonl with known values (a step written twice, as a
# resume may leave it, and a line cut short) the table's rows and final line are the file's
# numbers, the four charts are PNGs that decode (chunk CRCs, zlib stream, every row's filter)
# and show the curve's colour; bad inputs fail naming the file or folder.
#   tests/jobs/cli/report_run.sh XOMNI
set -euo pipefail
xomni="$1"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
run="$work/run"
mkdir -p "$run"
{
  # Step s: loss 10 - s/2, lr s/1000, grad norm s, s*100 tokens/s; eval at steps 6 and 12.
  for s in $(seq 1 12); do
    if ((s == 3)); then  # the first write of step 3, replaced by the later line
      echo '{"step": 3, "loss": 99, "lr": 1, "grad_norm": 99, "tokens_per_s": 99999, "flops_per_s": 1}'
    fi
    awk -v s="$s" 'BEGIN {printf "{\"step\": %d, \"loss\": %g, \"lr\": %g, \"grad_norm\": %g, \"tokens_per_s\": %g, \"flops_per_s\": 5e9}\n", s, 10 - s / 2, s / 1000, s, 100 * s}'
    ((s % 6 == 0)) && echo "{\"step\": $s, \"eval_loss\": $( ((s == 6)) && echo 7.25 || echo 4.5)}"
  done
  echo '{"ste'
} > "$run/metrics.jsonl"

"$xomni" report run "$run" --every 5 > "$work/out" 2> "$work/err" || fail "report run: $(cat "$work/err")"
cat "$work/out"
for row in "| 1-5 | 8.5000 | 7.5000 | - | 0.005 | 3 | 300.0 |" \
  "| 6-10 | 6.0000 | 5.0000 | 7.2500 | 0.01 | 8 | 800.0 |" \
  "| 11-12 | 4.2500 | 4.0000 | 4.5000 | 0.012 | 11.5 | 1150.0 |" \
  "final (step 12): loss 4.0000, eval loss 4.5000 (step 12), lr 0.012, grad norm 12, tokens/s 750.0 (median over 10 steps after the first 2)"; do
  grep -qxF -- "$row" "$work/out" || fail "missing: $row"
done
grep -q "1 line(s) without a step number ignored" "$work/err" || fail "no warning: $(cat "$work/err")"
cmp <(sed -n '1,/^final/p' "$work/out") "$run/report/summary.md" || fail "summary.md differs from the table"

# Every chart decodes and has the first series' colour (0x1f77b4) somewhere.
for png in loss lr grad_norm throughput; do
  /usr/bin/python3 - "$run/report/$png.png" <<'PY' || fail "$png.png"
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "signature"
pos, idat, ihdr = 8, b"", None
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    assert zlib.crc32(kind + body) == struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0], kind
    if kind == b"IHDR": ihdr = struct.unpack(">IIBB", body[:10])
    if kind == b"IDAT": idat += body
    pos += 12 + n
w, h, depth, colour = ihdr
assert depth == 8 and colour in (2, 6), ihdr
bpp = 3 if colour == 2 else 4
raw = zlib.decompress(idat)
assert len(raw) == h * (1 + w * bpp), (len(raw), w, h)
prev, found = bytearray(w * bpp), 0
for y in range(h):
    f, line = raw[y * (1 + w * bpp)], bytearray(raw[y * (1 + w * bpp) + 1:(y + 1) * (1 + w * bpp)])
    assert f <= 4, f"filter {f}"
    for i in range(len(line)):
        a = line[i - bpp] if i >= bpp else 0
        b, c = prev[i], prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    found += sum(1 for x in range(w) if line[x * bpp:x * bpp + 3] == b"\x1f\x77\xb4")
    prev = line
assert w >= 400 and h >= 300 and found > 50, (w, h, found)
PY
done
echo "charts decode"

# --out elsewhere; the default row width (about ten rows).
"$xomni" report run "$run" --out "$work/elsewhere" > "$work/out2"
[[ -s "$work/elsewhere/loss.png" && -s "$work/elsewhere/summary.md" ]] || fail "--out"
grep -qxF "| 1-2 | 9.2500 | 9.0000 | - | 0.002 | 1.5 | 150.0 |" "$work/out2" || fail "default rows: $(cat "$work/out2")"

# Refusals name what is wrong.
expect_error() {  # expect_error MESSAGE ARGS...
  local want="$1" err
  shift
  if err=$("$xomni" report run "$@" 2>&1); then fail "accepted: $*"; fi
  grep -qF -- "$want" <<< "$err" || fail "$*: expected '$want', got: $err"
}
expect_error "$work/none/metrics.jsonl not found" "$work/none"
mkdir -p "$work/evalonly"
echo '{"step": 5, "eval_loss": 3}' > "$work/evalonly/metrics.jsonl"
expect_error "$work/evalonly/metrics.jsonl has no step lines" "$work/evalonly"
touch "$work/afile"
expect_error "cannot make the folder $work/afile" "$run" --out "$work/afile"
expect_error "--every must be a whole number" "$run" --every 1.5
expect_error "give exactly one run directory" "$run" "$run"
if err=$("$xomni" report runs "$run" 2>&1); then fail "report runs accepted"; fi
grep -qF "unknown report 'runs'; the reports are 'scaling'" <<< "$err" || fail "$err"
echo "ok: report run"
