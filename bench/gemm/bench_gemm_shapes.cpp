// GFLOP/s of the GEMMs of one GPT-2-small training step (B4 T64: M = 256 token rows), forward and
// backward, in OpenBLAS sgemm (fp32) and in the bf16 kernels (bf16_gemm.h: inputs rounded to
// bf16, fp32 accumulation). Best of `reps` timings per shape (the box is shared). Prints one
// line per GEMM: name, ta, tb, m, n, k, then GFLOP/s for sgemm, AMX and AVX512-BF16 (0: absent).
//   xomni_bench_gemm_shapes [reps]
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "xomni/core/ops/bf16_gemm.h"

using namespace xomni;

namespace {
struct Gemm {
  std::string name;
  bool ta, tb;
  int64_t m, n, k;
};

// The linear y = x W^T with x [rows, in], W [out, in], and its two backward GEMMs.
void add_linear(std::vector<Gemm>& out, const std::string& name, int64_t rows, int64_t in,
                int64_t outf) {
  out.push_back({name + " fwd x W^T", false, true, rows, outf, in});
  out.push_back({name + " bwd g W", false, false, rows, in, outf});
  out.push_back({name + " bwd g^T x", true, false, outf, in, rows});
}

template <typename Fn>
double best_seconds(int reps, Fn&& fn) {
  fn();  // warm-up
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    best = std::min(best,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}
}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::stoi(argv[1]) : 5;
  const int64_t rows = 4 * 64;
  std::vector<Gemm> gemms;
  add_linear(gemms, "qkv fused", rows, 768, 2304);
  add_linear(gemms, "q|k|v|o", rows, 768, 768);
  add_linear(gemms, "gate|up", rows, 768, 3072);
  add_linear(gemms, "down", rows, 3072, 768);
  add_linear(gemms, "lm head", rows, 768, 50304);
  const Bf16Kernel have = bf16_kernel_detected();
  std::printf("# kernel detected: %s\n", bf16_kernel_name(have));
  std::printf("%-22s ta tb %6s %6s %6s %10s %10s %10s\n", "gemm", "m", "n", "k", "sgemm", "amx",
              "avx512bf16");
  std::mt19937 gen(1);
  std::uniform_real_distribution<float> u(-1, 1);
  for (const Gemm& g : gemms) {
    std::vector<float> a(size_t(g.m * g.k)), b(size_t(g.k * g.n)), c(size_t(g.m * g.n));
    for (float& x : a) x = u(gen);
    for (float& x : b) x = u(gen);
    const int64_t lda = g.ta ? g.m : g.k, ldb = g.tb ? g.k : g.n;
    const double flop = 2.0 * double(g.m) * double(g.n) * double(g.k);
    const double s32 = best_seconds(reps, [&] {
      cblas_sgemm(CblasRowMajor, g.ta ? CblasTrans : CblasNoTrans, g.tb ? CblasTrans : CblasNoTrans,
                  int(g.m), int(g.n), int(g.k), 1.0f, a.data(), int(lda), b.data(), int(ldb), 0.0f,
                  c.data(), int(g.n));
    });
    auto bf16 = [&](Bf16Kernel k) {
      return best_seconds(reps, [&] {
        gemm_bf16(k, g.ta, g.tb, g.m, g.n, g.k, a.data(), lda, b.data(), ldb, 0.0f, c.data(), g.n);
      });
    };
    const double amx = have == Bf16Kernel::amx ? flop / bf16(Bf16Kernel::amx) / 1e9 : 0;
    const double avx = have != Bf16Kernel::none ? flop / bf16(Bf16Kernel::avx512_bf16) / 1e9 : 0;
    std::printf("%-22s %2d %2d %6lld %6lld %6lld %10.1f %10.1f %10.1f\n", g.name.c_str(), g.ta,
                g.tb, static_cast<long long>(g.m), static_cast<long long>(g.n),
                static_cast<long long>(g.k), flop / s32 / 1e9, amx, avx);
  }
}
