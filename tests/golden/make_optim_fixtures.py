#!/usr/bin/python3
"""Writes tests/golden/fixtures/optim_adamw.xtf: 10 steps of torch.optim.AdamW on a tiny problem.

Run with /usr/bin/python3 (PyTorch 1.13). Deterministic (seeded generator). Same XTF1 format as
make_fixtures.py (its writer is reused).

Model: h = tanh(x @ fc1.weight^T + fc1.bias) * norm.weight
       out = h @ head.weight^T + x @ skip.weight^T,   loss = mean((out - y)^2)
Groups: "decay" = fc1.weight, head.weight, skip.weight (weight decay 0.1, lr x 1);
        "no_decay" = fc1.bias, norm.weight (weight decay 0, lr x 0.5).
skip.weight is frozen (requires_grad False): it must not move. Each step: zero grads, forward,
backward, clip_grad_norm_(max_norm=MAX_NORM), set the base lr to LR * (1 - k / 20), step.
The whole run is done twice, in f32 and in f64 (from the same f32 initial values).

Stored: x, y, init.<param> (f32); <dt>.loss and <dt>.norm ([10], the loss before each step and
the gradient norm clip_grad_norm_ returned), <dt>.<param> (final values) and
<dt>.<param>.exp_avg / .exp_avg_sq (final optimizer state of trainable params), with <dt> f32
(stored f32) or f64 (stored f64).
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import OUT_DIR, write_xtf  # noqa: E402

STEPS = 10
LR = 0.05
BETAS = (0.9, 0.95)
EPS = 1e-6
WD = 0.1
NO_DECAY_LR_SCALE = 0.5
MAX_NORM = 1.5  # the first steps clip, the later ones do not
SHAPES = {
    "fc1.weight": (4, 3),
    "fc1.bias": (4,),
    "norm.weight": (4,),
    "head.weight": (2, 4),
    "skip.weight": (2, 3),
}
DECAY = ["fc1.weight", "head.weight", "skip.weight"]
NO_DECAY = ["fc1.bias", "norm.weight"]
FROZEN = "skip.weight"


def run(init, x, y, dtype):
    p = {k: v.to(dtype).clone().requires_grad_(k != FROZEN) for k, v in init.items()}
    x, y = x.to(dtype), y.to(dtype)
    opt = torch.optim.AdamW(
        [{"params": [p[k] for k in DECAY], "weight_decay": WD, "lr": LR},
         {"params": [p[k] for k in NO_DECAY], "weight_decay": 0.0, "lr": LR * NO_DECAY_LR_SCALE}],
        lr=LR, betas=BETAS, eps=EPS)
    scales = [1.0, NO_DECAY_LR_SCALE]
    losses, norms = [], []
    for k in range(STEPS):
        opt.zero_grad()
        h = torch.tanh(x @ p["fc1.weight"].T + p["fc1.bias"]) * p["norm.weight"]
        out = h @ p["head.weight"].T + x @ p["skip.weight"].T
        loss = ((out - y) ** 2).mean()
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(list(p.values()), MAX_NORM)
        for g, s in zip(opt.param_groups, scales):
            g["lr"] = LR * (1 - k / 20) * s
        opt.step()
        losses.append(loss.item())
        norms.append(norm.item())
    out = {"loss": torch.tensor(losses, dtype=dtype), "norm": torch.tensor(norms, dtype=dtype)}
    for k, v in p.items():
        out[k] = v.detach()
        if k != FROZEN:
            st = opt.state[v]
            out[k + ".exp_avg"] = st["exp_avg"]
            out[k + ".exp_avg_sq"] = st["exp_avg_sq"]
    return out


def main():
    torch.use_deterministic_algorithms(True)
    gen = torch.Generator().manual_seed(2024)
    init = {k: (torch.randn(s, generator=gen, dtype=torch.float64) * 0.7).float()
            for k, s in SHAPES.items()}
    x = torch.randn(8, 3, generator=gen, dtype=torch.float64).float()
    y = torch.randn(8, 2, generator=gen, dtype=torch.float64).float()
    tensors = {"x": x, "y": y}
    tensors.update({"init." + k: v for k, v in init.items()})
    for name, dt in (("f32", torch.float32), ("f64", torch.float64)):
        res = run(init, x, y, dt)
        print(name, "loss", [f"{v:.5f}" for v in res["loss"].tolist()])
        print(name, "norm", [f"{v:.4f}" for v in res["norm"].tolist()])
        tensors.update({f"{name}.{k}": v for k, v in res.items()})
    path = os.path.join(OUT_DIR, "optim_adamw.xtf")
    write_xtf(path, tensors)
    print(f"{os.path.relpath(path)}: {os.path.getsize(path) / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
