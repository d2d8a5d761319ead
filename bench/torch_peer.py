"""PyTorch peer for bench/bench_ops.cpp: the same ops, shapes and thread count.

Prints JSON {benchmark name: seconds per iteration}. Run with Debian's /usr/bin/python3.
"""
import json
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F


def timeit(fn, min_time=0.5, repetitions=5):
    """Median over repetitions of the mean time per call in a run of at least min_time."""
    fn()  # warm-up (allocations, lazy init)
    per_call = []
    for _ in range(repetitions):
        n, start = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_time and n >= 3:
                per_call.append(elapsed / n)
                break
    return statistics.median(per_call)


def fwd_bwd(leaves, f):
    def run():
        for t in leaves:
            t.grad = None
        out = f()
        out.backward(torch.ones_like(out))
    return run


def attention_math(q, k, v):
    """softmax(q k^T / sqrt(d) + causal mask) v: PyTorch 1.13's math path."""
    t, d = q.shape[-2], q.shape[-1]
    scores = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(d))
    mask = torch.ones(t, t, dtype=torch.bool).triu(1)
    return torch.softmax(scores.masked_fill(mask, float("-inf")), dim=-1) @ v


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    r = lambda *s, g=False: torch.randn(*s).requires_grad_(g)
    res = {}
    for n in (256, 1024):
        a, b = r(n, n), r(n, n)
        res[f"matmul/{n}"] = timeit(lambda: a @ b)
    x, w, bias = r(1024, 768, g=True), r(3072, 768, g=True), r(3072, g=True)
    res["linear_fwd_bwd/1024x768x3072"] = timeit(fwd_bwd([x, w, bias], lambda: F.linear(x, w, bias)))
    for (bsz, t) in ((4, 256), (1, 1024)):
        q, k, v = (r(bsz, 12, t, 64, g=True) for _ in range(3))
        res[f"attention_fwd_bwd/B{bsz}_H12_T{t}_D64"] = timeit(fwd_bwd([q, k, v], lambda: attention_math(q, k, v)))
    x, w, bias = r(4096, 768, g=True), r(768, g=True), r(768, g=True)
    res["layer_norm_fwd_bwd/4096x768"] = timeit(fwd_bwd([x, w, bias], lambda: F.layer_norm(x, (768,), w, bias, 1e-5)))
    res["rms_norm_fwd_bwd/4096x768"] = timeit(fwd_bwd(
        [x, w], lambda: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * w))
    s = r(4 * 12 * 256, 256, g=True)
    res["softmax_fwd_bwd/12288x256"] = timeit(fwd_bwd([s], lambda: torch.softmax(s, -1)))
    logits = r(1024, 8192, g=True)
    targets = torch.tensor([(i * 7919) % 8192 for i in range(1024)])
    res["cross_entropy_fwd_bwd/1024x8192"] = timeit(fwd_bwd([logits], lambda: F.cross_entropy(logits, targets)))
    g = r(1024, 3072, g=True)
    res["gelu_tanh_fwd_bwd/1024x3072"] = timeit(fwd_bwd([g], lambda: F.gelu(g, approximate="tanh")))
    for (c, hw) in ((32, 64), (64, 32)):
        x, w, bias = r(8, c, hw, hw, g=True), r(c, c, 3, 3, g=True), r(c, g=True)
        res[f"conv2d_fwd_bwd/N8_C{c}_{hw}x{hw}_k3"] = timeit(
            fwd_bwd([x, w, bias], lambda: F.conv2d(x, w, bias, 1, 1)))
    print(json.dumps(res))


if __name__ == "__main__":
    main()
