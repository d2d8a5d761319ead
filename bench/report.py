"""Writes docs/PERF.md from one run of xomni's benchmarks and the PyTorch peer.

usage: report.py XOMNI_JSON TORCH_DEFAULT_JSON TORCH_TUNED_JSON OUT_MD
"""
import datetime
import os
import json
import platform
import subprocess
import sys

UNIT = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def load_xomni(path):
    data = json.load(open(path))
    out = {}
    for b in data["benchmarks"]:
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        name = b["name"].removesuffix("_median").removesuffix("/real_time")
        out[name] = b["real_time"] * UNIT[b["time_unit"]]
    return out


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main():
    xomni_path, default_path, tuned_path, out_path = sys.argv[1:5]
    x = load_xomni(xomni_path)
    td = json.load(open(default_path))
    tt = json.load(open(tuned_path))
    torch_version = subprocess.run(["/usr/bin/python3", "-c", "import torch; print(torch.__version__)"],
                                   capture_output=True, text=True).stdout.strip()
    ms = lambda s: f"{s * 1e3:.3f}"
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    coretype = f"`{coretype}`" if coretype else "unset (OpenBLAS picks its kernel for the CPU)"
    lines = [
        "# Performance",
        "",
        f"Measured {datetime.date.today()} on {cpu_name()}, 2 threads (`OMP_NUM_THREADS=2`,",
        f"`torch.set_num_threads(2)`), PyTorch {torch_version} from Debian, all in one run of",
        "`scripts/bench.sh`. Times are wall-clock per iteration, the median of 5 repetitions of at least",
        "0.5 s each (both sides); *speed-up* is PyTorch time / xomni time",
        "(above 1 means xomni is faster). PyTorch *default* is Debian's configuration (pthread OpenBLAS,",
        "glibc malloc); *tuned* is what a user would tune it to here: the OpenMP build of OpenBLAS",
        "(`LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp`) and huge-page malloc",
        "(`GLIBC_TUNABLES=glibc.malloc.hugetlb=1`). xomni links the same OpenMP OpenBLAS;",
        f"`OPENBLAS_CORETYPE` was {coretype} for every process in the run. The attention peer is PyTorch 1.13's math path",
        "(scores materialised, causal mask, softmax, matmul), the only one it has on CPU; the RMS norm",
        "peer is the composite a PyTorch 1.13 user writes (it has no fused RMS norm).",
        "",
        "| op (fwd+bwd unless noted) | xomni ms | PyTorch default ms | PyTorch tuned ms | speed-up vs default | speed-up vs tuned |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in x:
        if name not in tt:
            continue
        lines.append(f"| {name} | {ms(x[name])} | {ms(td[name])} | {ms(tt[name])} | "
                     f"{td[name] / x[name]:.2f} | {tt[name] / x[name]:.2f} |")
    lines += ["", "## GEMM through the op layer", "",
              "`matmul` (allocation, checks, dispatch) against a bare `cblas_sgemm` on preallocated buffers:", "",
              "| n (n x n x n) | cblas_sgemm ms | matmul ms | overhead |", "|---:|---:|---:|---:|"]
    for n in (256, 1024):
        raw, op = x.get(f"sgemm_raw/{n}"), x.get(f"matmul/{n}")
        if raw and op:
            lines.append(f"| {n} | {ms(raw)} | {ms(op)} | {100 * (op / raw - 1):+.1f}% |")
    lines += ["", "## Reading these numbers", "",
              "- Repeated runs on this 2-core VM move individual rows by up to about 10%; ratios within",
              "  0.9-1.1 are parity. GEMM-bound rows (matmul, linear) call the same OpenBLAS on both sides,",
              "  so parity is the expected result there; the op layer's own cost is the GEMM table above.",
              "- Norms, softmax, cross-entropy and GELU are memory-bound here (about 10 GB/s per core):",
              "  what counts is passes over memory, vectorised f32 math, and reusing allocations.",
              "- Attention's advantage comes from never materialising the T x T scores, skipping tiles",
              "  above the causal diagonal, and recomputing probabilities in backward.",
              "- Regenerate with `scripts/bench.sh` on an otherwise idle machine."]
    open(out_path, "w").write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
