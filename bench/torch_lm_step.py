"""PyTorch peer of bench/bench_lm_step.cpp: the same Qwen2 shapes (plain torch modules with
Hugging Face Qwen2 semantics), forward + backward + AdamW on random tokens.
Prints JSON {name: tokens per second}.  usage: torch_lm_step.py THREADS [STEPS] [fp32|bf16]
bf16: the forward under torch.autocast("cpu", torch.bfloat16) (its matmuls in bf16 through
oneDNN where the CPU has bf16), fp32 weights and optimizer: PyTorch's CPU mixed precision."""
import contextlib
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.weight, self.eps = nn.Parameter(torch.ones(d)), eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Block(nn.Module):
    def __init__(self, d, inter, nh, nkv):
        super().__init__()
        self.nh, self.nkv, self.hd = nh, nkv, d // nh
        self.ln1, self.ln2 = RMSNorm(d), RMSNorm(d)
        self.q = nn.Linear(d, nh * self.hd)
        self.k = nn.Linear(d, nkv * self.hd)
        self.v = nn.Linear(d, nkv * self.hd)
        self.o = nn.Linear(nh * self.hd, d, bias=False)
        self.gate, self.up = nn.Linear(d, inter, bias=False), nn.Linear(d, inter, bias=False)
        self.down = nn.Linear(inter, d, bias=False)

    def forward(self, x, cos, sin, mask):
        b, t, _ = x.shape
        h = self.ln1(x)
        q = self.q(h).view(b, t, self.nh, self.hd).transpose(1, 2)
        k = self.k(h).view(b, t, self.nkv, self.hd).transpose(1, 2)
        v = self.v(h).view(b, t, self.nkv, self.hd).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(self.nh // self.nkv, 1)
        v = v.repeat_interleave(self.nh // self.nkv, 1)
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.hd) + mask, -1) @ v
        x = x + self.o(a.transpose(1, 2).reshape(b, t, -1))
        h = self.ln2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class LM(nn.Module):
    def __init__(self, vocab, d, inter, layers, nh, nkv):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList(Block(d, inter, nh, nkv) for _ in range(layers))
        self.norm = RMSNorm(d)
        self.hd = d // nh

    def forward(self, ids):
        t = ids.shape[1]
        inv = 1.0 / (10000.0 ** (torch.arange(0, self.hd, 2).float() / self.hd))
        f = torch.outer(torch.arange(t).float(), inv)
        e = torch.cat((f, f), -1)
        cos, sin = e.cos(), e.sin()
        mask = torch.full((t, t), float("-inf")).triu(1)
        x = self.emb(ids)
        for b in self.blocks:
            x = b(x, cos, sin, mask)
        return self.norm(x) @ self.emb.weight.T  # tied head


def tokens_per_second(cfg, bsz, t, steps, bf16=False):
    model = LM(*cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ids = torch.randint(0, cfg[0], (bsz, t + 1))

    def step():
        opt.zero_grad(set_to_none=True)
        autocast = (torch.autocast("cpu", dtype=torch.bfloat16) if bf16
                    else contextlib.nullcontext())
        with autocast:
            logits = model(ids[:, :-1])
            loss = F.cross_entropy(logits.reshape(-1, cfg[0]).float(), ids[:, 1:].reshape(-1))
        loss.backward()
        opt.step()

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return bsz * t * steps / (time.perf_counter() - start)


def main():
    torch.set_num_threads(int(sys.argv[1]))
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    bf16 = len(sys.argv) > 3 and sys.argv[3] == "bf16"
    torch.manual_seed(0)
    res = {
        "gpt2_small_B4_T64": tokens_per_second((50304, 768, 3072, 12, 12, 12), 4, 64, steps, bf16),
        "tiny_job_B8_T128": tokens_per_second((1024, 128, 352, 4, 4, 2), 8, 128, steps * 10, bf16),
    }
    print(json.dumps(res))


if __name__ == "__main__":
    main()
