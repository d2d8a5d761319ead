"""PyTorch peer of `xomni generate --image-grid HxW`: X-Omni (XOmniForCausalLM, official names)
written as an efficient PyTorch user would for decoding: preallocated per-layer KV caches, one
token per step after the prefill, torch.inference_mode, grouped-query attention without
repeating K/V, vision layers kept with torch.where on the image mask, the final norm chosen by
the mask, image-mode logits from mm_head's first image_vocab_size rows at the last position only.
PyTorch 1.13 (Debian) has no F.scaled_dot_product_attention: attention is the math path.

  torch_xomni_generate.py write DIR SHAPE SEED        random weights -> DIR/{config.json,
                                                      model.safetensors} (f32)
  torch_xomni_generate.py greedy DIR PROMPT_IDS H W N   prints N lines of h*w greedy code ids
  torch_xomni_generate.py bench DIR THREADS PROMPT_FILE REPS [GRIDS]  JSON lines, one per
      (grid, N), timing h*w sampled codes (temperature 1, min-p 0.03) for GRIDS (default
      "8x8 16x16"), N = 1 / 16:
      each repetition's seconds from the first code to the last (decode_s) and of the whole
      call (total_s: cache allocation, prefill and every code)

Run with Debian's /usr/bin/python3 (python3-torch).
"""
import json
import math
import os
import struct
import sys
import time

import torch
import torch.nn.functional as F

# The safetensors writer of the golden fixtures (one writer for the f32 and bf16 files).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests",
                                "fixtures", "golden"))
from make_xomni_fixtures import save_safetensors  # noqa: E402

SHAPES = {
    # The tiny study's model.
    "tiny": dict(hidden_size=128, intermediate_size=352, num_hidden_layers=6,
                 num_attention_heads=4, num_key_value_heads=2),
    # A larger one, to show the trend.
    "h512": dict(hidden_size=512, intermediate_size=1408, num_hidden_layers=8,
                 num_attention_heads=8, num_key_value_heads=4),
}
COMMON = dict(vocab_size=1024, image_vocab_size=512, mm_vocab_size=576, rope_theta=10000.0,
              rms_norm_eps=1e-6, max_position_embeddings=512, tie_word_embeddings=False,
              num_mm_adap_layers=1, num_mm_head_layers=1,
              mm_special_tokens=["<SOM>", "<EOM>", "<IMAGE>"],
              architectures=["XOmniForCausalLM"], model_type="x-omni", torch_dtype="float32")


# ---------------------------------------------------------------- weights on disk

def random_params(cfg, seed):
    g = torch.Generator().manual_seed(seed)
    h, i = cfg["hidden_size"], cfg["intermediate_size"]
    hd = h // cfg["num_attention_heads"]
    nq, nkv = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd
    V, MM = cfg["vocab_size"], cfg["mm_vocab_size"]

    def r(*shape, std):
        return torch.randn(*shape, generator=g) * std

    # Scaled by 1/sqrt(fan_in) so activations and logits stay O(1): the greedy codes are then
    # well separated (no near-ties for f32 rounding to flip).
    p = {"model.lm_embed_tokens.weight": r(V, h, std=1.0),
         "model.mm_embed_tokens.weight": r(MM, h, std=1.0)}
    for l in range(cfg["num_hidden_layers"]):
        pre = f"model.layers.{l}."
        p[pre + "input_layernorm.weight"] = 1 + r(h, std=0.1)
        p[pre + "self_attn.q_proj.weight"] = r(nq, h, std=h ** -0.5)
        p[pre + "self_attn.q_proj.bias"] = r(nq, std=0.1)
        p[pre + "self_attn.k_proj.weight"] = r(nkv, h, std=h ** -0.5)
        p[pre + "self_attn.k_proj.bias"] = r(nkv, std=0.1)
        p[pre + "self_attn.v_proj.weight"] = r(nkv, h, std=h ** -0.5)
        p[pre + "self_attn.v_proj.bias"] = r(nkv, std=0.1)
        p[pre + "self_attn.o_proj.weight"] = r(h, nq, std=nq ** -0.5)
        p[pre + "post_attention_layernorm.weight"] = 1 + r(h, std=0.1)
        p[pre + "mlp.gate_proj.weight"] = r(i, h, std=h ** -0.5)
        p[pre + "mlp.up_proj.weight"] = r(i, h, std=h ** -0.5)
        p[pre + "mlp.down_proj.weight"] = r(h, i, std=i ** -0.5)
    p["model.lm_norm.weight"] = 1 + r(h, std=0.1)
    p["model.mm_norm.weight"] = 1 + r(h, std=0.1)
    p["lm_head.weight"] = r(V, h, std=2 * h ** -0.5)
    p["mm_head.weight"] = r(MM, h, std=2 * h ** -0.5)
    return p


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        body = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        assert meta["dtype"] == "F32", f"{path}: {name} is {meta['dtype']}, this peer reads F32"
        a, b = meta["data_offsets"]
        out[name] = torch.frombuffer(bytearray(body[a:b]), dtype=torch.float32).view(meta["shape"])
    return out


def write_model(folder, shape, seed):
    cfg = dict(COMMON, **SHAPES[shape])
    os.makedirs(folder, exist_ok=True)
    save_safetensors(os.path.join(folder, "model.safetensors"), random_params(cfg, seed),
                     torch.float32)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)


# ---------------------------------------------------------------- the model

class XOmni:
    """Functional X-Omni decoder over a dict of weights, with fused QKV and gate/up weights
    (what a user tuning for decode would do once at load time)."""

    def __init__(self, folder):
        with open(os.path.join(folder, "config.json")) as f:
            c = json.load(f)
        p = load_safetensors(os.path.join(folder, "model.safetensors"))
        self.V, self.K = c["vocab_size"], c["image_vocab_size"]
        self.nh, self.nkv = c["num_attention_heads"], c["num_key_value_heads"]
        self.hd = c["hidden_size"] // self.nh
        self.eps, self.theta = c["rms_norm_eps"], c["rope_theta"]
        L = c["num_hidden_layers"]
        self.vision = [not (c["num_mm_adap_layers"] <= i < L - c["num_mm_head_layers"])
                       for i in range(L)]
        self.lm_embed = p["model.lm_embed_tokens.weight"]
        self.mm_embed = p["model.mm_embed_tokens.weight"]
        self.lm_norm, self.mm_norm = p["model.lm_norm.weight"], p["model.mm_norm.weight"]
        self.mm_head_codes = p["mm_head.weight"][: self.K].contiguous()  # image-mode rows
        self.layers = []
        for i in range(L):
            g = lambda n: p[f"model.layers.{i}.{n}"]
            self.layers.append(dict(
                ln1=g("input_layernorm.weight"), ln2=g("post_attention_layernorm.weight"),
                qkv_w=torch.cat([g("self_attn.q_proj.weight"), g("self_attn.k_proj.weight"),
                                 g("self_attn.v_proj.weight")]).contiguous(),
                qkv_b=torch.cat([g("self_attn.q_proj.bias"), g("self_attn.k_proj.bias"),
                                 g("self_attn.v_proj.bias")]).contiguous(),
                o_w=g("self_attn.o_proj.weight"),
                gu_w=torch.cat([g("mlp.gate_proj.weight"), g("mlp.up_proj.weight")]).contiguous(),
                down_w=g("mlp.down_proj.weight")))

    def rms(self, x, w):
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))

    def rope_table(self, n):
        inv = 1.0 / (self.theta ** (torch.arange(0, self.hd, 2, dtype=torch.float32) / self.hd))
        f = torch.outer(torch.arange(n, dtype=torch.float32), inv)
        e = torch.cat((f, f), -1)
        return e.cos(), e.sin()

    @staticmethod
    def rotate(x, cos, sin):
        h = x.shape[-1] // 2
        return x * cos + torch.cat((-x[..., h:], x[..., :h]), -1) * sin

    def layer(self, w, x, kc, vc, pos, cos, sin, causal):
        """x [B, T, H] at positions pos..pos+T; kc/vc [B, nkv, cap, hd] filled to pos."""
        B, T, _ = x.shape
        nh, nkv, hd = self.nh, self.nkv, self.hd
        qkv = F.linear(self.rms(x, w["ln1"]), w["qkv_w"], w["qkv_b"])
        q, k, v = qkv.split([nh * hd, nkv * hd, nkv * hd], -1)
        q = self.rotate(q.view(B, T, nh, hd).transpose(1, 2), cos, sin)
        k = self.rotate(k.view(B, T, nkv, hd).transpose(1, 2), cos, sin)
        kc[:, :, pos:pos + T] = k
        vc[:, :, pos:pos + T] = v.view(B, T, nkv, hd).transpose(1, 2)
        keys, vals = kc[:, :, :pos + T], vc[:, :, :pos + T]
        # Grouped-query attention: the g query heads of a KV head share its keys (no repeat).
        g = nh // nkv
        qg = q.reshape(B, nkv, g * T, hd)
        s = torch.matmul(qg, keys.transpose(-1, -2)) * (hd ** -0.5)
        if causal is not None:
            s = s.view(B, nkv, g, T, pos + T) + causal
        a = torch.matmul(torch.softmax(s, -1).view(B, nkv, g * T, pos + T), vals)
        a = a.view(B, nh, T, hd).transpose(1, 2).reshape(B, T, nh * hd)
        x = x + F.linear(a, w["o_w"])
        gate, up = F.linear(self.rms(x, w["ln2"]), w["gu_w"]).chunk(2, -1)
        return x + F.linear(F.silu(gate) * up, w["down_w"])

    def step(self, ids, caches, pos, cos, sin):
        """Feeds ids [B, T] at positions pos..; returns image-mode logits at the last position."""
        B, T = ids.shape
        image = (ids >= self.V).unsqueeze(-1)
        x = torch.where(image, self.mm_embed[(ids - self.V).clamp(min=0)],
                        self.lm_embed[ids.clamp(max=self.V - 1)])
        c, s = cos[pos:pos + T], sin[pos:pos + T]
        causal = None
        if T > 1:
            causal = torch.full((T, pos + T), float("-inf")).triu(pos + 1)
        for w, vision, (kc, vc) in zip(self.layers, self.vision, caches):
            y = self.layer(w, x, kc, vc, pos, c, s, causal)
            x = torch.where(image, y, x) if vision else y
        last, img = x[:, -1], image[:, -1]
        h = torch.where(img, self.rms(last, self.mm_norm), self.rms(last, self.lm_norm))
        return F.linear(h, self.mm_head_codes)  # [B, K]

    def generate(self, prompt, count, n, temperature, min_p, gen, marks=None):
        """count image codes (ids V + k) for n copies of prompt; marks gets the time the first
        code was drawn (after the cache allocation and the prefill)."""
        P = len(prompt)
        cap = P + count - 1
        cos, sin = self.rope_table(cap)
        caches = [(torch.empty(n, self.nkv, cap, self.hd), torch.empty(n, self.nkv, cap, self.hd))
                  for _ in self.layers]
        ids = torch.tensor([prompt] * n)
        out = torch.empty(n, count, dtype=torch.long)
        pos = 0
        for s in range(count):
            logits = self.step(ids, caches, pos, cos, sin)
            pos += ids.shape[1]
            if temperature == 0:
                k = logits.argmax(-1)
            else:
                probs = torch.softmax(logits / temperature, -1)
                probs = probs.masked_fill(probs < min_p * probs.amax(-1, keepdim=True), 0)
                k = torch.multinomial(probs, 1, generator=gen).squeeze(1)
            out[:, s] = k
            if s == 0 and marks is not None:
                marks.append(time.perf_counter())
            ids = (k + self.V).unsqueeze(1)
        return out + self.V


# ---------------------------------------------------------------- commands

def main(argv):
    cmd = argv[1]
    if cmd == "write":
        write_model(argv[2], argv[3], int(argv[4]))
        return
    if cmd == "greedy":
        model = XOmni(argv[2])
        prompt = [int(t) for t in argv[3].split()]
        h, w, n = int(argv[4]), int(argv[5]), int(argv[6])
        with torch.inference_mode():
            codes = model.generate(prompt, h * w, n, 0.0, 0.0, None)
        for row in codes.tolist():
            print(" ".join(map(str, row)))
        return
    if cmd == "bench":
        folder, threads, prompt_file, reps = argv[2], int(argv[3]), argv[4], int(argv[5])
        torch.set_num_threads(threads)
        model = XOmni(folder)
        with open(prompt_file) as f:
            prompts = json.load(f)  # {"8x8": [ids...], "16x16": [...]}
        gen = torch.Generator().manual_seed(1)
        with torch.inference_mode():
            model.generate(prompts["8x8"], 4, 1, 1.0, 0.03, gen)  # first-call set-up, untimed
            for grid in (argv[6] if len(argv) > 6 else "8x8 16x16").split():
                h, w = map(int, grid.split("x"))
                for n in (1, 16):
                    decode, total = [], []
                    for _ in range(reps):
                        marks = []
                        t0 = time.perf_counter()
                        model.generate(prompts[grid], h * w, n, 1.0, 0.03, gen, marks)
                        t1 = time.perf_counter()
                        decode.append(t1 - marks[0])
                        total.append(t1 - t0)
                    print(json.dumps(dict(grid=grid, n=n, threads=threads, decode_s=decode,
                                          total_s=total)),
                          flush=True)
        return
    sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
