#!/usr/bin/python3
"""Writes the golden fixtures tests/golden/fixtures/<family>.xtf from PyTorch 1.13.

Run with /usr/bin/python3 (the interpreter that has torch). Output is deterministic: every family
draws from its own seeded generator.

Each case stores, under "<case>.<name>":
  <input names>  the op's inputs as stored (floating ones in f32, ids i64/i32, masks u8),
  out            the output (f32; i64 for argmax), idx the indices of max,
  gout           a random upstream gradient (f32), and
  g<input name>  the gradient of every floating input (f32).
References are computed in f64 from the f32 inputs and rounded to f32 once, so the stored values
carry only that rounding. A case whose name ends in "_T" or "_step" stores an operand contiguous
and the op sees a view of it (the transform is written next to the case here and in the C++ test);
its gradient is the gradient of the stored tensor, in the stored shape.
"""
import os
import struct
import sys

import torch
import torch.nn.functional as F

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
CODES = {
    torch.float32: 0,
    torch.float64: 1,
    torch.bfloat16: 2,
    torch.float16: 3,
    torch.int32: 4,
    torch.int64: 5,
    torch.uint8: 6,
}
f32, f64, i64, i32, u8 = torch.float32, torch.float64, torch.int64, torch.int32, torch.uint8


def write_xtf(path, tensors):
    assert sys.byteorder == "little", "XTF1 data is little endian"
    with open(path, "wb") as f:
        f.write(b"XTF1")
        f.write(struct.pack("<I", len(tensors)))
        for name, t in tensors.items():
            t = t.detach().contiguous()
            key = name.encode()
            f.write(struct.pack("<I", len(key)))
            f.write(key)
            f.write(struct.pack("<BI", CODES[t.dtype], t.dim()))
            f.write(struct.pack("<%dq" % t.dim(), *t.shape))
            if t.dtype in (torch.bfloat16, torch.float16):
                t = t.view(torch.int16)  # numpy has no bf16: write the raw bits
            f.write(t.numpy().tobytes())


class Family:
    def __init__(self, name, seed):
        self.name = name
        self.gen = torch.Generator().manual_seed(seed)
        self.tensors = {}

    # ---- random inputs (f32) ----
    def normal(self, *shape, scale=1.0, mean=0.0):
        return (torch.randn(shape, generator=self.gen, dtype=f64) * scale + mean).to(f32)

    def uniform(self, *shape, lo=-1.0, hi=1.0):
        return (torch.rand(shape, generator=self.gen, dtype=f64) * (hi - lo) + lo).to(f32)

    def away(self, *shape, lo=0.1, hi=2.0):
        """Random sign times a magnitude in [lo, hi): stays clear of 0."""
        mag = self.uniform(*shape, lo=lo, hi=hi)
        sign = torch.where(torch.rand(shape, generator=self.gen) < 0.5, -1.0, 1.0)
        return (mag * sign).to(f32)

    def randint(self, lo, hi, *shape, dtype=i64):
        return torch.randint(lo, hi, shape, generator=self.gen).to(dtype)

    def mask(self, *shape, p=0.5):
        return (torch.rand(shape, generator=self.gen) < p).to(u8)

    # ---- cases ----
    def case(self, name, fn, grad=True, **inputs):
        assert "." not in name and name not in {k.split(".")[0] for k in self.tensors}, name
        leaves = {}
        for k, v in inputs.items():
            self.tensors[f"{name}.{k}"] = v
            leaves[k] = v.to(f64).requires_grad_(grad) if v.is_floating_point() else v
        out = fn(**leaves)
        idx = None
        if isinstance(out, tuple):
            out, idx = out
        self.tensors[f"{name}.out"] = out.detach().to(f32) if out.is_floating_point() else out
        if idx is not None:
            self.tensors[f"{name}.idx"] = idx
        if not grad:
            return
        gout = self.normal(*out.shape)
        self.tensors[f"{name}.gout"] = gout
        out.backward(gout.to(f64))
        for k, v in leaves.items():
            if v.is_floating_point():
                g = v.grad if v.grad is not None else torch.zeros_like(v)
                self.tensors[f"{name}.g{k}"] = g.to(f32)

    def raw(self, key, t):
        self.tensors[key] = t

    def write(self):
        path = os.path.join(OUT_DIR, self.name + ".xtf")
        write_xtf(path, self.tensors)
        return path, os.path.getsize(path)


def T(x):
    """The transposed view a "_T" case feeds to the op: swap the last two dims."""
    return x.transpose(-2, -1)


# ------------------------------------------------------------------------------------------------
def elementwise():
    fam = Family("elementwise", 1)
    binary = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div}
    for op, fn in binary.items():
        bval = fam.away if op == "div" else fam.normal
        fam.case(f"{op}_same", lambda a, b: fn(a, b), a=fam.normal(7, 13), b=bval(7, 13))
        fam.case(f"{op}_bcast", lambda a, b: fn(a, b), a=fam.normal(4, 1, 13), b=bval(7, 1))
        fam.case(f"{op}_scalarb", lambda a, b: fn(a, b), a=fam.normal(33), b=bval())
        fam.case(f"{op}_aT", lambda a, b: fn(T(a), b), a=fam.normal(13, 7), b=bval(1, 13))
        # b is stored [7, 26]; the op sees b[:, ::2].
        fam.case(f"{op}_bstep", lambda a, b: fn(a, b[:, ::2]), a=fam.normal(7, 13), b=bval(7, 26))
    fam.case("adds_2d", lambda x: x + 0.75, x=fam.normal(7, 13))
    fam.case("adds_T", lambda x: T(x) + 0.75, x=fam.normal(13, 7))
    fam.case("muls_2d", lambda x: x * -1.25, x=fam.normal(7, 13))
    fam.case("muls_T", lambda x: T(x) * -1.25, x=fam.normal(13, 7))

    positive = lambda *s: fam.uniform(*s, lo=0.1, hi=3.0)
    unary = {
        "neg": (torch.neg, fam.normal),
        "exp": (torch.exp, lambda *s: fam.uniform(*s, lo=-2.0, hi=2.0)),
        "log": (torch.log, positive),
        "sqrt": (torch.sqrt, positive),
        "rsqrt": (torch.rsqrt, positive),
        "tanh": (torch.tanh, lambda *s: fam.normal(*s, scale=2.0)),
        "sigmoid": (torch.sigmoid, lambda *s: fam.normal(*s, scale=3.0)),
        "silu": (F.silu, lambda *s: fam.normal(*s, scale=3.0)),
        "gelu": (lambda x: F.gelu(x, approximate="none"), lambda *s: fam.normal(*s, scale=2.5)),
        "gelutanh": (lambda x: F.gelu(x, approximate="tanh"), lambda *s: fam.normal(*s, scale=2.5)),
        "relu": (torch.relu, lambda *s: fam.away(*s, lo=0.05, hi=2.0)),
    }
    for op, (fn, gen) in unary.items():
        fam.case(f"{op}_33", lambda x: fn(x), x=gen(33))
        fam.case(f"{op}_2d", lambda x: fn(x), x=gen(7, 13))
        fam.case(f"{op}_T", lambda x: fn(T(x)), x=gen(13, 7))
    # Saturating inputs: |x| log-spaced over [2, 60] (sigmoid/tanh reach 0 or 1 in f32; exp(60)
    # is finite).
    # Not all beyond 5: there the f32 gradient of tanh/sigmoid, formed from the rounded output
    # as PyTorch does too, keeps only a few bits, so an all-saturated tensor has no f32 scale.
    for op in ("tanh", "sigmoid", "silu", "gelu", "gelutanh"):
        fn = unary[op][0]
        mag = torch.logspace(0.30103, 1.77815, 33, dtype=f64)[torch.randperm(33, generator=fam.gen)]
        sign = torch.where(torch.rand(33, generator=fam.gen) < 0.5, -1.0, 1.0).to(f64)
        fam.case(f"{op}_sat", lambda x: fn(x), x=(mag * sign).to(f32))
    fam.case("pow2_2d", lambda x: torch.pow(x, 2.0), x=fam.normal(7, 13))
    with_zeros = fam.normal(33)
    with_zeros[::4] = 0.0
    fam.case("pow3_zeros", lambda x: torch.pow(x, 3.0), x=with_zeros)
    fam.case("pow0_33", lambda x: torch.pow(x, 0.0), x=fam.normal(33))
    fam.case("pow3_T", lambda x: torch.pow(T(x), 3.0), x=fam.normal(13, 7))
    fam.case("powhalf_2d", lambda x: torch.pow(x, 0.5), x=positive(7, 13))
    fam.case("powm1p5_33", lambda x: torch.pow(x, -1.5), x=positive(33))

    def clear_of(x, kinks):  # moves entries within 0.05 of a kink 0.1 away from it
        for k in kinks:
            near = (x - k).abs() < 0.05
            x = torch.where(near, x + 0.1 * torch.sign(x - k + 1e-3), x)
        return x

    fam.case("clamp_both_2d", lambda x: torch.clamp(x, -0.5, 0.7),
             x=clear_of(fam.normal(7, 13), [-0.5, 0.7]))
    fam.case("clamp_lo_33", lambda x: torch.clamp(x, min=-0.2), x=clear_of(fam.normal(33), [-0.2]))
    fam.case("clamp_hi_T", lambda x: torch.clamp(T(x), max=0.3),
             x=clear_of(fam.normal(13, 7), [0.3]))
    fam.case("where_bcast", lambda cond, a, b: torch.where(cond.bool(), a, b),
             cond=fam.mask(7, 13), a=fam.normal(7, 13), b=fam.normal(13))
    fam.case("where_condb", lambda cond, a, b: torch.where(cond.bool(), a, b),
             cond=fam.mask(7, 1), a=fam.normal(4, 7, 13), b=fam.normal(4, 1, 13))
    fam.case("where_aT", lambda cond, a, b: torch.where(cond.bool(), T(a), b),
             cond=fam.mask(7, 13), a=fam.normal(13, 7), b=fam.normal(7, 13))
    fam.case("maskfill_2d", lambda x, mask: x.masked_fill(mask.bool(), -3.5),
             x=fam.normal(7, 13), mask=fam.mask(7, 13))
    fam.case("maskfill_bcast", lambda x, mask: x.masked_fill(mask.bool(), 2.25),
             x=fam.normal(4, 7, 13), mask=fam.mask(7, 1))
    fam.case("maskfill_T", lambda x, mask: T(x).masked_fill(mask.bool(), 0.0),
             x=fam.normal(13, 7), mask=fam.mask(1, 13))
    return fam


def reduce():
    fam = Family("reduce", 2)
    fam.case("sum_all", lambda x: x.sum(), x=fam.normal(7, 13))
    fam.case("sum_d1", lambda x: x.sum(1), x=fam.normal(4, 7, 13))
    fam.case("sum_d02k", lambda x: x.sum((0, 2), keepdim=True), x=fam.normal(4, 7, 13))
    fam.case("sum_dm1_T", lambda x: T(x).sum(-1), x=fam.normal(4, 13, 7))
    fam.case("sum_long", lambda x: x.sum(1), x=fam.normal(3, 1031))
    fam.case("sum_d0_long", lambda x: x.sum(0), x=fam.normal(1031, 3))
    fam.case("mean_all", lambda x: x.mean(), x=fam.normal(7, 13))
    fam.case("mean_d1", lambda x: x.mean(1), x=fam.normal(4, 7, 13))
    fam.case("mean_d02k", lambda x: x.mean((0, 2), keepdim=True), x=fam.normal(4, 7, 13))
    # x is stored [4, 7, 26]; the op sees x[..., ::2].
    fam.case("mean_d2_step", lambda x: x[..., ::2].mean(2), x=fam.normal(4, 7, 26))
    fam.case("var_d1", lambda x: x.var(1), x=fam.normal(4, 7, 13))
    fam.case("var_d02k", lambda x: x.var((0, 2), keepdim=True), x=fam.normal(4, 7, 13))
    fam.case("var_c0_dm1", lambda x: x.var(-1, unbiased=False), x=fam.normal(7, 13))
    fam.case("var_d1_T", lambda x: T(x).var(1), x=fam.normal(13, 7))
    fam.case("var_offset", lambda x: x.var(1), x=fam.normal(7, 33, scale=0.1, mean=5.0))
    fam.case("max_d1", lambda x: tuple(torch.max(x, 1)), x=fam.normal(7, 13))
    fam.case("max_d0k", lambda x: tuple(torch.max(x, 0, keepdim=True)), x=fam.normal(4, 7, 13))
    fam.case("max_dm1_T", lambda x: tuple(torch.max(T(x), -1)), x=fam.normal(13, 7))
    fam.case("argmax_d1", lambda x: torch.argmax(x, 1), grad=False, x=fam.normal(7, 13))
    fam.case("argmax_d2k", lambda x: torch.argmax(x, 2, keepdim=True), grad=False,
             x=fam.normal(4, 7, 13))
    return fam


def softmax():
    fam = Family("softmax", 3)
    for op, fn in (("softmax", torch.softmax), ("logsoftmax", torch.log_softmax)):
        fam.case(f"{op}_dm1", lambda x: fn(x, -1), x=fam.normal(7, 13))
        fam.case(f"{op}_d1", lambda x: fn(x, 1), x=fam.normal(4, 7, 13))
        fam.case(f"{op}_d0", lambda x: fn(x, 0), x=fam.normal(5, 33))
        fam.case(f"{op}_T", lambda x: fn(T(x), -1), x=fam.normal(13, 7))
        fam.case(f"{op}_big", lambda x: fn(x, -1), x=fam.normal(7, 13, scale=30.0))
        fam.case(f"{op}_long", lambda x: fn(x, -1), x=fam.normal(3, 1031, scale=3.0))
    # Rows with some -inf logits (masked entries): probability 0 and gradient 0 there.
    x = fam.normal(5, 13)
    x[fam.mask(5, 13, p=0.3).bool()] = float("-inf")
    x[:, 0] = 0.5
    fam.case("softmax_neginf", lambda x: torch.softmax(x, -1), x=x)
    return fam


def matmul():
    fam = Family("matmul", 4)
    n = fam.normal
    mm = lambda a, b: torch.matmul(a, b)
    lin = lambda x, w, b=None: F.linear(x, w, b)
    fam.case("mm_2d", mm, a=n(7, 13), b=n(13, 33))
    fam.case("mm_b3_2d", mm, a=n(4, 7, 13), b=n(13, 5))
    fam.case("mm_bcast4", mm, a=n(2, 1, 7, 13), b=n(3, 13, 5))
    fam.case("mm_vec_mat", mm, a=n(13), b=n(13, 5))
    fam.case("mm_mat_vec", mm, a=n(7, 13), b=n(13))
    fam.case("mm_dot", mm, a=n(13), b=n(13))
    fam.case("mm_vec_batched", mm, a=n(13), b=n(4, 13, 5))
    fam.case("mm_batched_vec", mm, a=n(4, 7, 13), b=n(13))
    fam.case("mm_aT", lambda a, b: torch.matmul(T(a), b), a=n(13, 7), b=n(13, 33))
    fam.case("mm_bT", lambda a, b: torch.matmul(a, T(b)), a=n(7, 13), b=n(33, 13))
    fam.case("mm_abT_batched", lambda a, b: torch.matmul(T(a), T(b)), a=n(4, 13, 7), b=n(4, 5, 13))
    # a is stored [7, 26]; the op sees a[:, ::2] (non-contiguous, not a transpose).
    fam.case("mm_astep", lambda a, b: torch.matmul(a[:, ::2], b), a=n(7, 26), b=n(13, 5))
    fam.case("mm_longk", mm, a=n(5, 300), b=n(300, 6))
    fam.case("mm_big", mm, a=n(3, 33, 130), b=n(130, 65))
    fam.case("linear_2d", lin, x=n(7, 13), w=n(5, 13), b=n(5))
    fam.case("linear_3d", lin, x=n(2, 3, 13), w=n(33, 13), b=n(33))
    fam.case("linear_nobias", lin, x=n(7, 13), w=n(5, 13))
    fam.case("linear_xT", lambda x, w, b: F.linear(T(x), w, b), x=n(13, 7), w=n(5, 13), b=n(5))
    fam.case("linear_1d", lin, x=n(13), w=n(5, 13), b=n(5))
    return fam


def index():
    fam = Family("index", 5)
    n = fam.normal
    ids = torch.tensor([[1, 4, 4, 0, 10], [3, 3, 3, 7, 1], [10, 0, 5, 5, 2]], dtype=i64)
    fam.case("emb_2d", lambda w, ids: F.embedding(ids, w), w=n(11, 6), ids=ids)
    fam.case("emb_1d_i32", lambda w, ids: F.embedding(ids.long(), w), w=n(7, 13),
             ids=torch.tensor([6, 0, 6, 2, 2, 2, 5, 1, 6], dtype=i32))
    fam.case("gather_d1", lambda x, idx: torch.gather(x, 1, idx), x=n(5, 7),
             idx=fam.randint(0, 7, 5, 4))
    fam.case("gather_d0", lambda x, idx: torch.gather(x, 0, idx), x=n(5, 7),
             idx=fam.randint(0, 5, 3, 7))
    fam.case("gather_3d", lambda x, idx: torch.gather(x, 1, idx), x=n(3, 5, 4),
             idx=fam.randint(0, 5, 3, 6, 4))
    fam.case("gather_T", lambda x, idx: torch.gather(T(x), 1, idx.long()), x=n(7, 5),
             idx=fam.randint(0, 7, 5, 9, dtype=i32))
    fam.case("isel_d0", lambda x, idx: torch.index_select(x, 0, idx), x=n(7, 5),
             idx=torch.tensor([6, 0, 6, 2, 2, 3, 1, 6, 0], dtype=i64))
    fam.case("isel_d1", lambda x, idx: torch.index_select(x, 1, idx), x=n(4, 7, 5),
             idx=torch.tensor([5, 5, 0, 3], dtype=i64))
    fam.case("isel_dm1_i32", lambda x, idx: torch.index_select(x, -1, idx.long()), x=n(3, 13),
             idx=torch.tensor([12, 0, 12, 7, 7, 4], dtype=i32))
    fam.case("isel_T", lambda x, idx: torch.index_select(T(x), 0, idx), x=n(5, 7),
             idx=torch.tensor([6, 0, 6, 2, 2, 3, 1, 6, 0], dtype=i64))
    return fam


def norm():
    fam = Family("norm", 6)
    n = fam.normal

    def ln(eps):
        return lambda x, w, b: F.layer_norm(x, (x.shape[-1],), w, b, eps)

    def ln_T(eps):
        return lambda x, w, b: F.layer_norm(T(x), (x.shape[-2],), w, b, eps)

    def rms(eps):  # written by hand: torch 1.13 has no rms_norm
        return lambda x, w: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w

    def rms_T(eps):
        return lambda x, w: rms(eps)(T(x), w)

    fam.case("ln_2d", ln(1e-5), x=n(7, 13), w=n(13, mean=1.0, scale=0.3), b=n(13))
    fam.case("ln_3d", ln(1e-5), x=n(2, 3, 33), w=n(33, mean=1.0, scale=0.3), b=n(33))
    fam.case("ln_eps", ln(1e-3), x=n(7, 13, scale=0.01), w=n(13), b=n(13))
    fam.case("ln_T", ln_T(1e-5), x=n(13, 7), w=n(13, mean=1.0, scale=0.3), b=n(13))
    fam.case("ln_offset", ln(1e-5), x=n(5, 33, mean=4.0, scale=0.1), w=n(33), b=n(33))
    fam.case("ln_long", ln(1e-5), x=n(2, 1031), w=n(1031, mean=1.0, scale=0.3), b=n(1031))
    fam.case("rms_2d", rms(1e-6), x=n(7, 13), w=n(13, mean=1.0, scale=0.3))
    fam.case("rms_3d", rms(1e-6), x=n(2, 3, 33), w=n(33, mean=1.0, scale=0.3))
    fam.case("rms_eps", rms(1e-3), x=n(7, 13, scale=0.01), w=n(13))
    fam.case("rms_T", rms_T(1e-6), x=n(13, 7), w=n(13, mean=1.0, scale=0.3))
    fam.case("rms_long", rms(1e-6), x=n(2, 1031), w=n(1031, mean=1.0, scale=0.3))
    # A constant row (zero variance: only eps keeps it finite) and an all-zero row.
    x = n(3, 13)
    x[1] = 0.5
    fam.case("ln_const", ln(1e-5), x=x, w=n(13), b=n(13))
    x = n(3, 13)
    x[2] = 0.0
    fam.case("rms_zero", rms(1e-6), x=x, w=n(13))
    return fam


def group_norm():
    fam = Family("group_norm", 7)
    n = fam.normal

    def gn(groups, eps=1e-5, view=lambda x: x):
        return lambda x, w, b: F.group_norm(view(x), groups, w, b, eps)

    fam.case("gn_4d", gn(3), x=n(2, 6, 5, 3), w=n(6, mean=1.0, scale=0.3), b=n(6))
    fam.case("gn_3d", gn(2), x=n(3, 4, 7), w=n(4, mean=1.0, scale=0.3), b=n(4))
    fam.case("gn_inst", gn(4), x=n(2, 4, 3, 3), w=n(4), b=n(4))
    fam.case("gn_one", gn(1, eps=1e-3), x=n(2, 4, 3, 3, scale=0.05), w=n(4), b=n(4))
    fam.case("gn_offset", gn(2), x=n(2, 4, 5, 5, mean=3.0, scale=0.2), w=n(4), b=n(4))
    # x is stored [2, 6, 3, 5]; the op sees it with the last two dims swapped.
    fam.case("gn_T", gn(2, view=T), x=n(2, 6, 3, 5), w=n(6, mean=1.0, scale=0.3), b=n(6))
    return fam


def rope_ref(x, pos, theta):
    B, Tn, H, D = x.shape
    inv_freq = 1.0 / theta ** (torch.arange(0, D, 2, dtype=f64) / D)
    pos = pos.to(f64)
    if pos.dim() == 1:
        pos = pos[None].expand(B, Tn)
    ang = pos[..., None] * inv_freq  # [B, T, D/2]
    cos = torch.cat([ang.cos(), ang.cos()], -1)[:, :, None, :]
    sin = torch.cat([ang.sin(), ang.sin()], -1)[:, :, None, :]
    x1, x2 = x[..., : D // 2], x[..., D // 2:]
    return x * cos + torch.cat([-x2, x1], -1) * sin


def rope():
    fam = Family("rope", 8)
    n = fam.normal
    packed = torch.tensor([[0, 1, 2, 0, 1], [3, 4, 5, 6, 7]], dtype=i64)
    fam.case("rope_bt", lambda x, pos: rope_ref(x, pos, 1e4), x=n(2, 5, 3, 8), pos=packed)
    fam.case("rope_t", lambda x, pos: rope_ref(x, pos, 1e4), x=n(2, 5, 3, 8),
             pos=torch.tensor([2, 3, 4, 5, 6], dtype=i64))
    fam.case("rope_i32", lambda x, pos: rope_ref(x, pos, 1e6), x=n(1, 7, 2, 16),
             pos=torch.arange(7, dtype=i32))
    # Far positions: the angle pos * inv_freq must be formed accurately (f32 angles lose ~1e-4).
    fam.case("rope_far", lambda x, pos: rope_ref(x, pos, 1e4), x=n(1, 4, 2, 8),
             pos=torch.tensor([4000, 4001, 7777, 12345], dtype=i64))
    # x is stored [B, H, T, D] = [2, 3, 5, 8]; the op sees x.transpose(1, 2).
    fam.case("rope_T", lambda x, pos: rope_ref(x.transpose(1, 2), pos, 1e4), x=n(2, 3, 5, 8),
             pos=packed)
    return fam


def sdpa_ref(q, k, v, causal=False, qseg=None, kseg=None, kpm=None, scale=None):
    B, Hq, Tq, D = q.shape
    Hkv, Tk = k.shape[1], k.shape[2]
    rep = Hq // Hkv  # query head h reads kv head h // rep (as HF repeat_kv)
    k = k.repeat_interleave(rep, dim=1)
    v = v.repeat_interleave(rep, dim=1)
    scale = D ** -0.5 if scale is None else scale
    visible = torch.ones(B, 1, Tq, Tk, dtype=torch.bool)
    if causal:
        visible = visible & torch.ones(Tq, Tk, dtype=torch.bool).tril()
    if kpm is not None:
        visible = visible & ~kpm.bool()[:, None, None, :]
    if qseg is not None:
        visible = visible & (qseg[:, None, :, None] == kseg[:, None, None, :])
    s = (q @ k.transpose(-2, -1)) * scale
    s = s.masked_fill(~visible, -1e30)  # exp underflows to exactly 0 in f64
    p = torch.softmax(s, -1) * visible.any(-1, keepdim=True).to(s.dtype)  # empty rows -> 0
    return p @ v


def attention():
    fam = Family("attention", 9)
    n = fam.normal
    fam.case("attn_plain", lambda q, k, v: sdpa_ref(q, k, v), q=n(2, 2, 7, 8), k=n(2, 2, 7, 8),
             v=n(2, 2, 7, 8))
    fam.case("attn_causal_gqa", lambda q, k, v: sdpa_ref(q, k, v, causal=True), q=n(2, 4, 9, 8),
             k=n(2, 2, 9, 8), v=n(2, 2, 9, 8))
    kpm = torch.zeros(2, 9, dtype=u8)
    kpm[0, 3] = kpm[0, 6] = 1
    kpm[1, 5:] = 1
    fam.case("attn_pad", lambda q, k, v, kpm: sdpa_ref(q, k, v, kpm=kpm), q=n(2, 2, 5, 8),
             k=n(2, 2, 9, 8), v=n(2, 2, 9, 8), kpm=kpm)
    seg = torch.tensor([[0, 0, 0, 1, 1, 1, 1, 2, 2], [0, 0, 0, 0, 0, 1, 1, 1, 1]], dtype=i64)
    fam.case("attn_seg_causal",
             lambda q, k, v, qseg, kseg: sdpa_ref(q, k, v, causal=True, qseg=qseg, kseg=kseg),
             q=n(2, 2, 9, 8), k=n(2, 2, 9, 8), v=n(2, 2, 9, 8), qseg=seg, kseg=seg.clone())
    # Query 4 belongs to document 3, which has no key: its output row is zero.
    fam.case("attn_seg_cross", lambda q, k, v, qseg, kseg: sdpa_ref(q, k, v, qseg=qseg, kseg=kseg),
             q=n(1, 2, 5, 8), k=n(1, 2, 7, 8), v=n(1, 2, 7, 8),
             qseg=torch.tensor([[0, 0, 1, 1, 3]], dtype=i32),
             kseg=torch.tensor([[0, 0, 0, 1, 1, 1, 2]], dtype=i32))
    fam.case("attn_scale", lambda q, k, v: sdpa_ref(q, k, v, causal=True, scale=0.3),
             q=n(1, 2, 6, 4), k=n(1, 2, 6, 4), v=n(1, 2, 6, 4))
    # Left padding under a causal mask: queries 0 and 1 of batch 0 see no key -> zero rows.
    lpad = torch.zeros(2, 7, dtype=u8)
    lpad[0, :2] = 1
    lpad[1, :1] = 1
    fam.case("attn_empty_rows", lambda q, k, v, kpm: sdpa_ref(q, k, v, causal=True, kpm=kpm),
             q=n(2, 2, 7, 8), k=n(2, 2, 7, 8), v=n(2, 2, 7, 8), kpm=lpad)
    fam.case("attn_long", lambda q, k, v: sdpa_ref(q, k, v, causal=True), q=n(1, 2, 130, 8),
             k=n(1, 1, 130, 8), v=n(1, 1, 130, 8))
    fam.case("attn_d64", lambda q, k, v: sdpa_ref(q, k, v, causal=True), q=n(1, 2, 33, 64),
             k=n(1, 1, 33, 64), v=n(1, 1, 33, 64))
    # Enough work (5 * Hq * T^2 * D = 4.1M) that with 2 threads the backward splits one kv head's
    # key tiles over two workers and sums their dQ partials afterwards.
    fam.case("attn_chunked", lambda q, k, v: sdpa_ref(q, k, v, causal=True), q=n(1, 2, 160, 16),
             k=n(1, 1, 160, 16), v=n(1, 1, 160, 16))
    # q, k, v are stored [B, T, H, D]; the op sees each .transpose(1, 2).
    fam.case("attn_T", lambda q, k, v: sdpa_ref(q.transpose(1, 2), k.transpose(1, 2),
                                               v.transpose(1, 2), causal=True),
             q=n(2, 7, 2, 8), k=n(2, 7, 1, 8), v=n(2, 7, 1, 8))
    return fam


def loss():
    fam = Family("loss", 10)
    n = fam.normal
    tgt = torch.tensor([3, -100, 12, 0, 5, -100, 7], dtype=i64)
    for red in ("mean", "sum", "none"):
        fam.case(f"ce_{red}", lambda logits, tgt: F.cross_entropy(logits, tgt, reduction=red),
                 logits=n(7, 13, scale=2.0), tgt=tgt)
    fam.case("ce_big", lambda logits, tgt: F.cross_entropy(logits, tgt),
             logits=n(33, 5, scale=20.0), tgt=fam.randint(0, 5, 33))
    fam.case("ce_ign2_i32",
             lambda logits, tgt: F.cross_entropy(logits, tgt.long(), ignore_index=2),
             logits=n(9, 6), tgt=torch.tensor([2, 0, 5, 2, 1, 3, 2, 4, 0], dtype=i32))
    fam.case("ce_T", lambda logits, tgt: F.cross_entropy(T(logits), tgt), logits=n(13, 7),
             tgt=tgt)
    fam.case("ce_long", lambda logits, tgt: F.cross_entropy(logits, tgt, reduction="sum"),
             logits=n(3, 1031, scale=2.0), tgt=torch.tensor([0, 1030, 517], dtype=i64))
    return fam


def conv():
    fam = Family("conv", 11)
    n = fam.normal

    def c(stride, padding, view=lambda x: x):
        return lambda x, w, b=None: F.conv2d(view(x), w, b, stride, padding)

    fam.case("conv_s1p1", c(1, 1), x=n(2, 3, 7, 9), w=n(4, 3, 3, 3), b=n(4))
    fam.case("conv_s2p0", c(2, 0), x=n(2, 3, 7, 9), w=n(4, 3, 3, 3), b=n(4))
    fam.case("conv_s2p1_nobias", c(2, 1), x=n(1, 2, 8, 7), w=n(3, 2, 3, 3))
    fam.case("conv_1x1", c(1, 0), x=n(2, 5, 4, 3), w=n(6, 5, 1, 1), b=n(6))
    fam.case("conv_rect", c(1, 2), x=n(1, 3, 9, 6), w=n(2, 3, 5, 3), b=n(2))
    fam.case("conv_wide", c(1, 1), x=n(1, 16, 6, 6), w=n(8, 16, 3, 3), b=n(8))
    # ~590k multiply-adds: enough for the multi-threaded path.
    fam.case("conv_par", c(1, 1), x=n(2, 8, 16, 16), w=n(16, 8, 3, 3), b=n(16))
    # x is stored [2, 3, 9, 7]; the op sees it with the last two dims swapped.
    fam.case("conv_T", c(1, 1, view=T), x=n(2, 3, 9, 7), w=n(4, 3, 3, 3), b=n(4))
    return fam


def resample():
    fam = Family("resample", 12)
    n = fam.normal
    def up(f, view=lambda x: x):
        return lambda x: F.interpolate(view(x), scale_factor=f, mode="nearest")

    def pool(f, view=lambda x: x):
        return lambda x: F.avg_pool2d(view(x), f, f)

    fam.case("up2", up(2), x=n(2, 3, 5, 7))
    fam.case("up3", up(3), x=n(1, 2, 3, 4))
    fam.case("up2_T", up(2, T), x=n(2, 3, 7, 5))
    fam.case("pool2", pool(2), x=n(2, 3, 8, 6))
    fam.case("pool3", pool(3), x=n(1, 2, 9, 12))
    fam.case("pool2_T", pool(2, T), x=n(2, 3, 6, 8))
    return fam


def convert():
    """Tensor.to between f32/f64/bf16/f16: "<src>_<dst>.x" -> ".out", forward only."""
    fam = Family("convert", 13)
    g = fam.gen
    inf, nan = float("inf"), float("nan")
    specials = [0.0, -0.0, 1.0, -1.0, inf, -inf, nan, 65504.0, 65519.0, 65520.0, -65520.0, 1e5,
                6e-8, 3e-8, 2.98e-8, 1e-8, 6.1e-5, 6.09e-5, 3.4028234663852886e38, 1.17549435e-38,
                1e-40, -1e-44, 3.0e38, 1.0e-3, 0.1, 1.0 / 3.0]

    def f32_values():
        mag = torch.exp(torch.empty(1500, dtype=f64).uniform_(-25, 15, generator=g))
        sign = torch.where(torch.rand(1500, generator=g) < 0.5, -1.0, 1.0)
        x = (mag * sign).to(f32)
        bits = x.view(i32)
        # Exact ties for bf16 (low 16 bits 0x8000) and for f16 normals (low 13 bits 0x1000).
        tie_bf = (bits[:300] & ~0xFFFF) | 0x8000
        normal_h = torch.randint(0x33800000, 0x477FE000, (300,), generator=g, dtype=i32)
        tie_h = (normal_h & ~0x1FFF) | 0x1000
        # f16 subnormal range, including its ties (multiples of 2^-25 that are odd).
        sub_h = torch.randint(1, 2048, (100,), generator=g).to(f64) * 2.0 ** -25
        rand_bits = torch.randint(-2 ** 31, 2 ** 31 - 1, (300,), generator=g, dtype=i64).to(i32)
        return torch.cat([torch.tensor(specials, dtype=f32), x, tie_bf.view(f32), tie_h.view(f32),
                          sub_h.to(f32), -sub_h.to(f32), rand_bits.view(f32)])

    def f64_values():
        mag = torch.exp(torch.empty(1200, dtype=f64).uniform_(-30, 20, generator=g))
        sign = torch.where(torch.rand(1200, generator=g) < 0.5, -1.0, 1.0)
        x = mag * sign
        # Values just off f32 / bf16 / f16 rounding ties, and outside the f32 range.
        base = f32_values()[:600].to(f64)
        nudged = torch.cat([base * (1 + 2.0 ** -40), base * (1 - 2.0 ** -40)])
        extra = torch.tensor([1.0 + 2.0 ** -8 + 2.0 ** -30, 1e39, -1e39, 1e-50, 3.5e38,
                              1.0 + 2.0 ** -11 + 2.0 ** -40, 1.0 + 2.0 ** -24 + 2.0 ** -50],
                             dtype=f64)
        return torch.cat([torch.tensor(specials, dtype=f64), x, nudged, extra])

    def half_values(dtype):
        bits = torch.randint(-2 ** 15, 2 ** 15 - 1, (2000,), generator=g, dtype=i64).to(torch.int16)
        sp = torch.tensor([0x0000, 0x8000, 0x7C00, 0xFC00, 0x7F80, 0xFF80, 0x0001, 0x8001, 0x03FF,
                           0x7BFF, 0x7F7F, 0x0080, 0x007F],
                          dtype=i64).to(torch.int16)
        return torch.cat([sp, bits]).view(dtype)

    sources = {"f32": f32_values(), "f64": f64_values(), "bf16": half_values(torch.bfloat16),
               "f16": half_values(torch.float16)}
    dtypes = {"f32": f32, "f64": f64, "bf16": torch.bfloat16, "f16": torch.float16}
    for s, x in sources.items():
        for d, dt in dtypes.items():
            if s != d:
                fam.raw(f"{s}_{d}.x", x)
                fam.raw(f"{s}_{d}.out", x.to(dt))
    return fam


FAMILIES = [elementwise, reduce, softmax, matmul, index, norm, group_norm, rope, attention, loss,
            conv, resample, convert]

if __name__ == "__main__":
    torch.use_deterministic_algorithms(True)
    os.makedirs(OUT_DIR, exist_ok=True)
    total = 0
    for make in FAMILIES:
        path, size = make().write()
        total += size
        print(f"{os.path.relpath(path)}: {size / 1024:.1f} KiB")
    print(f"total {total / 1024:.1f} KiB")
