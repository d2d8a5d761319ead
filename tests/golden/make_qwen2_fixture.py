"""A tiny random Qwen2 in plain PyTorch (Hugging Face Qwen2 modelling semantics), saved as
safetensors + config.json, with reference logits, loss, parameter gradients and greedy tokens.

Run with Debian's /usr/bin/python3 (torch 1.13); writes tests/golden/fixtures/qwen2_tiny/.
"""
import json
import math
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from make_fixtures import write_xtf  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "fixtures", "qwen2_tiny")
CFG = dict(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
           num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
           rope_theta=10000.0, rms_norm_eps=1e-6, tie_word_embeddings=False,
           architectures=["Qwen2ForCausalLM"], model_type="qwen2")


def make_params(gen):
    c = CFG
    hd = c["hidden_size"] // c["num_attention_heads"]
    h, i, v = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    nq, nkv = c["num_attention_heads"] * hd, c["num_key_value_heads"] * hd
    r = lambda *s, std=0.2: (torch.randn(*s, generator=gen) * std)
    p = {"model.embed_tokens.weight": r(v, h, std=1.0)}
    for l in range(c["num_hidden_layers"]):
        pre = f"model.layers.{l}."
        p[pre + "input_layernorm.weight"] = 1 + r(h, std=0.1)
        p[pre + "self_attn.q_proj.weight"] = r(nq, h)
        p[pre + "self_attn.q_proj.bias"] = r(nq, std=0.1)
        p[pre + "self_attn.k_proj.weight"] = r(nkv, h)
        p[pre + "self_attn.k_proj.bias"] = r(nkv, std=0.1)
        p[pre + "self_attn.v_proj.weight"] = r(nkv, h)
        p[pre + "self_attn.v_proj.bias"] = r(nkv, std=0.1)
        p[pre + "self_attn.o_proj.weight"] = r(h, nq)
        p[pre + "post_attention_layernorm.weight"] = 1 + r(h, std=0.1)
        p[pre + "mlp.gate_proj.weight"] = r(i, h)
        p[pre + "mlp.up_proj.weight"] = r(i, h)
        p[pre + "mlp.down_proj.weight"] = r(h, i)
    p["model.norm.weight"] = 1 + r(h, std=0.1)
    p["lm_head.weight"] = r(v, h)
    return p


def rms_norm(x, w, eps):
    var = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(var + eps))


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def forward(p, ids):
    c = CFG
    b, t = ids.shape
    nh, nkv = c["num_attention_heads"], c["num_key_value_heads"]
    hd = c["hidden_size"] // nh
    inv_freq = 1.0 / (c["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    freqs = torch.outer(torch.arange(t, dtype=torch.float32), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    mask = torch.full((t, t), float("-inf")).triu(1)
    x = p["model.embed_tokens.weight"][ids]
    for l in range(c["num_hidden_layers"]):
        pre = f"model.layers.{l}."
        h = rms_norm(x, p[pre + "input_layernorm.weight"], c["rms_norm_eps"])
        proj = lambda name, heads: (h @ p[pre + f"self_attn.{name}.weight"].T + p[pre + f"self_attn.{name}.bias"]) \
            .view(b, t, heads, hd).transpose(1, 2)
        q, k, v = proj("q_proj", nh), proj("k_proj", nkv), proj("v_proj", nkv)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(nh // nkv, dim=1)
        v = v.repeat_interleave(nh // nkv, dim=1)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + mask, dim=-1) @ v
        x = x + att.transpose(1, 2).reshape(b, t, nh * hd) @ p[pre + "self_attn.o_proj.weight"].T
        h = rms_norm(x, p[pre + "post_attention_layernorm.weight"], c["rms_norm_eps"])
        gate = torch.nn.functional.silu(h @ p[pre + "mlp.gate_proj.weight"].T)
        x = x + (gate * (h @ p[pre + "mlp.up_proj.weight"].T)) @ p[pre + "mlp.down_proj.weight"].T
    x = rms_norm(x, p["model.norm.weight"], c["rms_norm_eps"])
    return x @ p["lm_head.weight"].T


def save_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        data = t.detach().contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def adamw_losses(params, ids, steps=10):
    """Ten AdamW steps: no weight decay on biases and norm weights, 0.1 elsewhere; the loss
    before each step."""
    leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    no_decay = [v for k, v in leaves.items() if k.endswith(".bias") or "norm" in k]
    decay = [v for k, v in leaves.items() if not (k.endswith(".bias") or "norm" in k)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=3e-3, betas=(0.9, 0.95), eps=1e-8)
    losses = []
    for _ in range(steps):
        logits = forward(leaves, ids)
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, CFG["vocab_size"]),
                                                 ids[:, 1:].reshape(-1))
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return torch.tensor(losses, dtype=torch.float64)


def main():
    os.makedirs(OUT, exist_ok=True)
    gen = torch.Generator().manual_seed(1234)
    params = make_params(gen)
    save_safetensors(os.path.join(OUT, "model.safetensors"), params)
    with open(os.path.join(OUT, "config.json"), "w") as f:
        json.dump(CFG, f, indent=2)

    ids = torch.randint(0, CFG["vocab_size"], (2, 24), generator=gen)
    leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    logits = forward(leaves, ids)
    loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, CFG["vocab_size"]), ids[:, 1:].reshape(-1))
    loss.backward()

    prompt = ids[:1, :5]
    tokens = prompt.clone()
    with torch.no_grad():
        for _ in range(32):
            nxt = forward(params, tokens)[:, -1].argmax(-1, keepdim=True)
            tokens = torch.cat([tokens, nxt], dim=1)
    out = {"ids": ids, "logits": logits.detach(), "loss": loss.detach().reshape(1),
           "prompt": prompt.reshape(-1), "greedy": tokens[0, 5:]}
    out["adamw_losses"] = adamw_losses(params, ids)
    with open(os.path.join(OUT, "greedy.txt"), "w") as f:  # for the CLI test
        f.write(" ".join(map(str, prompt.reshape(-1).tolist())) + "\n")
        f.write(" ".join(map(str, tokens[0, 5:].tolist())) + "\n")
    for k, v in leaves.items():
        out["grad." + k] = v.grad
    write_xtf(os.path.join(os.path.dirname(__file__), "fixtures", "qwen2_tiny.xtf"), out)


if __name__ == "__main__":
    main()
