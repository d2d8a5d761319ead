#!/usr/bin/env python3
"""png_pixels.py FILE RRGGBB: prints how many pixels of an 8-bit RGB(A) PNG have exactly that
colour (the chunks' CRCs and every row's filter are checked on the way)."""
import struct, sys, zlib

data = open(sys.argv[1], "rb").read()
want = bytes.fromhex(sys.argv[2])
assert data[:8] == b"\x89PNG\r\n\x1a\n", "signature"
pos, idat, ihdr = 8, b"", None
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    assert zlib.crc32(kind + body) == struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0], kind
    if kind == b"IHDR":
        ihdr = struct.unpack(">IIBB", body[:10])
    if kind == b"IDAT":
        idat += body
    pos += 12 + n
w, h, depth, colour = ihdr
assert depth == 8 and colour in (2, 6), ihdr
bpp = 3 if colour == 2 else 4
raw = zlib.decompress(idat)
stride = w * bpp
assert len(raw) == h * (1 + stride)
prev, found = bytearray(stride), 0
for y in range(h):
    f = raw[y * (1 + stride)]
    line = bytearray(raw[y * (1 + stride) + 1:(y + 1) * (1 + stride)])
    assert f <= 4, f"filter {f}"
    if f == 1:
        for i in range(bpp, stride):
            line[i] = (line[i] + line[i - bpp]) & 255
    elif f == 2:
        for i in range(stride):
            line[i] = (line[i] + prev[i]) & 255
    elif f == 3:
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + (a + prev[i]) // 2) & 255
    elif f == 4:
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    found += sum(1 for x in range(w) if line[x * bpp:x * bpp + 3] == want)
    prev = line
print(found)
