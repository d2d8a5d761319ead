#!/usr/bin/python3
"""Reads an xomni image dataset with h5py, independently of the C++ reader (used by
tests/core/data/test_image_data.cpp).

  h5py_image_check.py DIR   checks the dataset written by ImageData.H5pyReadsPixelsAndStrings:
                            sample i is (2 + i % 3) x (3 + i) pixels (height x width) with
                            pixel (y, x) = ((7 i + x) % 256, (11 i + y) % 256, (x * y) % 256),
                            kind "k<i>", metadata {"id": i}, captions ["c<i>", "long ü <i>"],
                            qa [["q<i>", "a<i>"]]
"""
import json
import os
import sys

import h5py
import numpy as np


def fail(msg):
    print("h5py image check FAILED: " + msg)
    sys.exit(1)


def main(d):
    with open(os.path.join(d, "manifest.json")) as f:
        m = json.load(f)
    if m["format"] != "xomni-image-shards":
        fail("format %r" % m["format"])
    i = 0
    for s in m["shards"]:
        with h5py.File(os.path.join(d, s["file"]), "r") as f:
            pixels = f["pixels"][()]
            off = f["offsets"][()]
            sizes = f["sizes"][()]
            if pixels.dtype != np.uint8:
                fail("pixels dtype %r" % pixels.dtype)
            kinds = f["kind"].asstr()[()]
            meta = f["metadata"].asstr()[()]
            caps = f["captions"].asstr()[()]
            qa = f["qa"].asstr()[()]
            for j in range(s["num_samples"]):
                h, w = (int(v) for v in sizes[j])
                if (h, w) != (2 + i % 3, 3 + i):
                    fail("sample %d size %r" % (i, (h, w)))
                img = pixels[off[j]:off[j + 1]].reshape(h, w, 3)
                y, x = np.mgrid[0:h, 0:w]
                want = np.stack([(7 * i + x) % 256, (11 * i + y) % 256, (x * y) % 256], -1)
                if not np.array_equal(img, want.astype(np.uint8)):
                    fail("sample %d pixels differ" % i)
                if kinds[j] != "k%d" % i or json.loads(meta[j]) != {"id": i}:
                    fail("sample %d kind/metadata %r %r" % (i, kinds[j], meta[j]))
                if json.loads(caps[j]) != ["c%d" % i, "long \u00fc %d" % i]:
                    fail("sample %d captions %r" % (i, caps[j]))
                if json.loads(qa[j]) != [["q%d" % i, "a%d" % i]]:
                    fail("sample %d qa %r" % (i, qa[j]))
                i += 1
    if i != m["num_samples"]:
        fail("read %d samples, manifest says %d" % (i, m["num_samples"]))
    print("h5py image check OK (%d samples)" % i)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        fail("usage: h5py_image_check.py DIR")
    main(sys.argv[1])
