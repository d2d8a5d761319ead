"""Appends the training-step throughput table to docs/PERF.md.

usage: report_lm_step.py OUT_MD X1 X2 TD1 TD2 TT1 TT2
(JSON files from xomni_bench_lm_step and torch_lm_step.py: xomni, PyTorch default and tuned,
each at 1 and 2 threads)."""
import json
import sys


def main():
    out = sys.argv[1]
    x1, x2, d1, d2, t1, t2 = (json.load(open(p)) for p in sys.argv[2:8])
    lines = [
        "",
        "## Training step (whole model)",
        "",
        "Forward + backward + AdamW on random tokens, the same Qwen2-shaped model on both sides",
        "(`bench/lm_step/bench_lm_step.cpp`, `bench/torch_lm_step.py`: plain torch modules with",
        "Hugging Face Qwen2 semantics, attention on PyTorch 1.13's math path), tied embeddings.",
        "GPT-2-small shape: 12 layers, hidden 768, 12 heads, vocab 50,304, B=4, T=64. Tiny job:",
        "`jobs/tiny/lm.toml` (4 layers, hidden 128, vocab 1024, B=8, T=128). Tokens per second;",
        "speed-up against the better of PyTorch's default and tuned configuration.",
        "",
        "| model | threads | xomni tok/s | PyTorch default | PyTorch tuned | speed-up vs best PyTorch |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in x1:
        if name not in d1:  # xomni-only entries (e.g. "<name>_unfused") have no PyTorch peer
            continue
        for th, x, d, t in ((1, x1, d1, t1), (2, x2, d2, t2)):
            best = max(d[name], t[name])
            lines.append(f"| {name} | {th} | {x[name]:.0f} | {d[name]:.0f} | {t[name]:.0f} | {x[name] / best:.2f} |")
    with open(out, "a") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
