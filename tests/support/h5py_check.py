#!/usr/bin/python3
"""Reads an xomni checkpoint with h5py, independently of the C++ reader (used by
tests/core/io/test_checkpoint.cpp).

  h5py_check.py check FILE             checks the file written by the test
                                       H5pyReadsShapesValuesDtypeAttributeAndChecksums
  h5py_check.py set-version FILE N     rewrites the root attribute xomni_format_version
"""
import sys
import zlib

import h5py
import numpy as np


def fail(msg):
    print("h5py check FAILED: " + msg)
    sys.exit(1)


def expect(cond, msg):
    if not cond:
        fail(msg)


def as_str(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def check(path):
    with h5py.File(path, "r") as f:
        a = f.attrs
        expect(int(a["xomni_format_version"]) == 2, "format version %r" % a["xomni_format_version"])
        expect(int(a["step"]) == 9, "step %r" % a["step"])
        expect(int(a["xomni_complete"]) == 1, "completion marker")

        w = f["model/w"]
        expect(w.shape == (6, 8), "model/w shape %r" % (w.shape,))
        expect(w.dtype == np.float32, "model/w dtype %r" % w.dtype)
        expect(as_str(w.attrs["dtype"]) == "f32", "model/w dtype attribute")
        expect(float(w[4, 5]) == 405.0, "model/w[4, 5] = %r" % w[4, 5])

        e = f["model/embed.weight"]
        expect(e.shape == (2, 3), "embed shape %r" % (e.shape,))
        expect(e.dtype == np.uint16, "bf16 stored as %r, expected uint16" % e.dtype)
        expect(as_str(e.attrs["dtype"]) == "bf16", "bf16 dtype attribute %r" % e.attrs["dtype"])
        bits = e[()]
        expect(int(bits[1, 0]) == 0x4049, "embed bits[1, 0] = %#x" % bits[1, 0])
        values = (bits.astype(np.uint32) << 16).view(np.float32)
        expect(values.tolist() == [[1.0, -2.0, 0.5], [3.140625, -0.0, 65280.0]],
               "embed values %r" % values.tolist())

        c = f["optimizer/count"]
        expect(c.dtype == np.int64 and c[()].tolist() == [-5, 1 << 40], "optimizer/count")
        expect(f["config"].asstr()[()] == "lr = 0.001\n", "config text")
        expect(f["rng/main"][()].tolist() == [7, 99], "rng/main")

        # Every dataset's crc32 attribute is zlib's CRC-32 of its little-endian bytes.
        def visit(name, obj):
            if not isinstance(obj, h5py.Dataset):
                return
            if obj.dtype.kind == "O" or h5py.check_string_dtype(obj.dtype) is not None:
                data = obj.asstr()[()].encode("utf-8")
            else:
                data = obj[()].astype(obj.dtype.newbyteorder("<")).tobytes()
            want = zlib.crc32(data) & 0xFFFFFFFF
            expect(int(obj.attrs["crc32"]) == want,
                   "%s: crc32 attribute %#x, zlib says %#x" % (name, obj.attrs["crc32"], want))
        f.visititems(visit)
    print("h5py check OK")


def set_version(path, version):
    with h5py.File(path, "r+") as f:
        f.attrs.modify("xomni_format_version", np.int64(version))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "check":
        check(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "set-version":
        set_version(sys.argv[2], int(sys.argv[3]))
    else:
        fail("usage: h5py_check.py check FILE | set-version FILE N")
