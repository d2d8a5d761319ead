// Op benchmarks (Google Benchmark). Names match bench/torch_peer.py so bench/report.py can
// put each next to PyTorch measured in the same run. Times are wall-clock per iteration.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include "ops/cpu/small_gemm.h"
#include "xomni/core/ops/fused.h"
#include "xomni/core/ops/linear_cross_entropy.h"
#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"
#include "xomni/core/tensor/random.h"

using namespace xomni;

namespace {
Tensor randu(const Shape& shape, uint64_t seed, bool grad = false) {
  Generator g(seed);
  Tensor t = randn(shape, g);
  if (grad) t.set_requires_grad();
  return t;
}

// Forward + backward of `fn` with an all-ones upstream gradient, parameters' grads cleared.
template <typename Fn>
void fwd_bwd(benchmark::State& state, std::vector<Tensor> leaves, Fn fn) {
  for (auto _ : state) {
    for (Tensor& t : leaves) t.zero_grad();
    Tensor out = fn();
    out.backward(Tensor::ones(out.shape()));
    benchmark::DoNotOptimize(leaves[0].grad().raw_data());
  }
}

// The same for several outputs, each with an all-ones upstream gradient (one backward pass).
template <typename Fn>
void fwd_bwd_outputs(benchmark::State& state, std::vector<Tensor> leaves, Fn fn) {
  for (auto _ : state) {
    for (Tensor& t : leaves) t.zero_grad();
    const std::vector<Tensor> outs = fn();
    std::vector<Tensor> grads;
    for (const Tensor& o : outs) grads.push_back(Tensor::ones(o.shape()));
    run_backward(outs, grads);
    benchmark::DoNotOptimize(leaves[0].grad().raw_data());
  }
}
}  // namespace

static void BM_sgemm_raw(benchmark::State& state) {
  const int n = int(state.range(0));
  Tensor a = randu({n, n}, 1), b = randu({n, n}, 2), c = Tensor::empty({n, n});
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data<float>(), n,
                b.data<float>(), n, 0.0f, c.data<float>(), n);
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * n * n * n, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_sgemm_raw)->Name("sgemm_raw")->Arg(256)->Arg(1024)->UseRealTime();

static void BM_matmul(benchmark::State& state) {
  const int64_t n = state.range(0);
  Tensor a = randu({n, n}, 1), b = randu({n, n}, 2);
  for (auto _ : state) benchmark::DoNotOptimize(matmul(a, b).raw_data());
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * n * n * n, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_matmul)->Name("matmul")->Arg(256)->Arg(1024)->UseRealTime();

// x [B*T, C] @ W^T + b, forward and backward: a transformer MLP projection.
static void BM_linear(benchmark::State& state) {
  Tensor x = randu({1024, 768}, 1, true), w = randu({3072, 768}, 2, true),
         b = randu({3072}, 3, true);
  fwd_bwd(state, {x, w, b}, [&] { return linear(x, w, b); });
}
BENCHMARK(BM_linear)->Name("linear_fwd_bwd/1024x768x3072")->UseRealTime();

static void attention_causal(benchmark::State& state, int64_t B, int64_t T) {
  const int64_t H = 12, D = 64;
  Tensor q = randu({B, H, T, D}, 1, true), k = randu({B, H, T, D}, 2, true),
         v = randu({B, H, T, D}, 3, true);
  AttentionOptions opt;
  opt.causal = true;
  fwd_bwd(state, {q, k, v}, [&] { return scaled_dot_product_attention(q, k, v, opt); });
}
static void BM_attention_t256(benchmark::State& state) {
  attention_causal(state, 4, 256);
}
static void BM_attention_t1024(benchmark::State& state) {
  attention_causal(state, 1, 1024);
}
BENCHMARK(BM_attention_t256)->Name("attention_fwd_bwd/B4_H12_T256_D64")->UseRealTime();
BENCHMARK(BM_attention_t1024)->Name("attention_fwd_bwd/B1_H12_T1024_D64")->UseRealTime();

static void BM_layer_norm(benchmark::State& state) {
  Tensor x = randu({4096, 768}, 1, true), w = randu({768}, 2, true), b = randu({768}, 3, true);
  fwd_bwd(state, {x, w, b}, [&] { return layer_norm(x, w, b, 1e-5); });
}
BENCHMARK(BM_layer_norm)->Name("layer_norm_fwd_bwd/4096x768")->UseRealTime();

static void BM_rms_norm(benchmark::State& state) {
  Tensor x = randu({4096, 768}, 1, true), w = randu({768}, 2, true);
  fwd_bwd(state, {x, w}, [&] { return rms_norm(x, w, 1e-6); });
}
BENCHMARK(BM_rms_norm)->Name("rms_norm_fwd_bwd/4096x768")->UseRealTime();

// Fused decoder-layer ops against their plain compositions (both outputs of the residual add
// and norm receive a gradient, as in a decoder layer).
static void BM_add_rms_norm(benchmark::State& state) {
  Tensor x = randu({4096, 768}, 1, true), r = randu({4096, 768}, 2, true);
  Tensor w = randu({768}, 3, true);
  const bool fused = state.range(0) == 1;
  fwd_bwd_outputs(state, {x, r, w}, [&] {
    if (fused) {
      const AddRmsNorm f = add_rms_norm(x, r, w, 1e-6);
      return std::vector<Tensor>{f.sum, f.normed};
    }
    const Tensor s = add(x, r);
    return std::vector<Tensor>{s, rms_norm(s, w, 1e-6)};
  });
}
BENCHMARK(BM_add_rms_norm)->Name("add_rms_norm_fwd_bwd/4096x768/fused")->Arg(1)->UseRealTime();
BENCHMARK(BM_add_rms_norm)->Name("add_rms_norm_fwd_bwd/4096x768/unfused")->Arg(0)->UseRealTime();

static void BM_swiglu(benchmark::State& state) {
  Tensor gate = randu({256, 3072}, 1, true), up = randu({256, 3072}, 2, true);
  const bool fused = state.range(0) == 1;
  fwd_bwd(state, {gate, up}, [&] { return fused ? swiglu(gate, up) : mul(silu(gate), up); });
}
BENCHMARK(BM_swiglu)->Name("swiglu_fwd_bwd/256x3072/fused")->Arg(1)->UseRealTime();
BENCHMARK(BM_swiglu)->Name("swiglu_fwd_bwd/256x3072/unfused")->Arg(0)->UseRealTime();

// q and k from [B, T, H*D] projections into attention's contiguous [B, H, T, D] (the unfused
// path's transpose copy is what attention's contiguous() would make).
static void BM_rope_qk(benchmark::State& state) {
  const int64_t B = 4, T = 64, H = 12, D = 64;
  Tensor q = randu({B, T, H * D}, 1, true), k = randu({B, T, H * D}, 2, true);
  const Tensor pos = Tensor::arange(T);
  const bool fused = state.range(0) == 1;
  fwd_bwd_outputs(state, {q, k}, [&] {
    const Tensor q4 = reshape(q, {B, T, H, D}), k4 = reshape(k, {B, T, H, D});
    if (fused) {
      const RopeQK r = rope_qk(q4, k4, pos, 1e4);
      return std::vector<Tensor>{r.q, r.k};
    }
    return std::vector<Tensor>{transpose(rope(q4, pos, 1e4), 1, 2).contiguous(),
                               transpose(rope(k4, pos, 1e4), 1, 2).contiguous()};
  });
}
BENCHMARK(BM_rope_qk)->Name("rope_qk_fwd_bwd/B4_T64_H12_D64/fused")->Arg(1)->UseRealTime();
BENCHMARK(BM_rope_qk)->Name("rope_qk_fwd_bwd/B4_T64_H12_D64/unfused")->Arg(0)->UseRealTime();

static void BM_softmax(benchmark::State& state) {
  Tensor x = randu({4 * 12 * 256, 256}, 1, true);
  fwd_bwd(state, {x}, [&] { return softmax(x, -1); });
}
BENCHMARK(BM_softmax)->Name("softmax_fwd_bwd/12288x256")->UseRealTime();

static void BM_cross_entropy(benchmark::State& state) {
  Tensor x = randu({1024, 8192}, 1, true);
  std::vector<int64_t> t(1024);
  for (size_t i = 0; i < t.size(); ++i) t[i] = int64_t((i * 7919) % 8192);
  Tensor targets = Tensor::from_vector(t, {1024});
  fwd_bwd(state, {x}, [&] { return cross_entropy(x, targets); });
}
BENCHMARK(BM_cross_entropy)->Name("cross_entropy_fwd_bwd/1024x8192")->UseRealTime();

// The GPT-2-small LM head and loss over 256 tokens (B4 T64): fused over vocabulary chunks, and
// through the whole [256, 50304] logits. No PyTorch peer (report.py skips rows without one).
static void lm_head_loss(benchmark::State& state, bool fused) {
  Tensor h = randu({256, 768}, 1, true), w = mul(randu({50304, 768}, 2), 0.02).detach();
  w.set_requires_grad();
  std::vector<int64_t> t(256);
  for (size_t i = 0; i < t.size(); ++i) t[i] = int64_t((i * 7919) % 50304);
  Tensor targets = Tensor::from_vector(t, {256});
  fwd_bwd(state, {h, w}, [&] {
    return fused ? linear_cross_entropy(h, w, targets)
                 : cross_entropy(linear(h, w), targets, -100, Reduction::none);
  });
}
static void BM_lm_head_fused(benchmark::State& state) {
  lm_head_loss(state, true);
}
static void BM_lm_head_unfused(benchmark::State& state) {
  lm_head_loss(state, false);
}
BENCHMARK(BM_lm_head_fused)->Name("linear_cross_entropy_fwd_bwd/256x768x50304")->UseRealTime();
BENCHMARK(BM_lm_head_unfused)
    ->Name("linear_then_cross_entropy_fwd_bwd/256x768x50304")
    ->UseRealTime();

static void BM_gelu(benchmark::State& state) {
  Tensor x = randu({1024, 3072}, 1, true);
  fwd_bwd(state, {x}, [&] { return gelu(x, GeluApprox::tanh); });
}
BENCHMARK(BM_gelu)->Name("gelu_tanh_fwd_bwd/1024x3072")->UseRealTime();

// The flow decoder's convolutions (jobs/tiny/codec_decoder.toml at batch 8): 3x3, padding 1, at
// the 64x64 level with 32 channels and the 32x32 level with 64.
// Third argument 0: the GEMMs through cblas instead of the convolution's own (small_gemm.h).
static void BM_conv3x3(benchmark::State& state) {
  const int64_t c = state.range(0), hw = state.range(1);
  Tensor x = randu({8, c, hw, hw}, 1, true), w = randu({c, c, 3, 3}, 2, true),
         b = randu({c}, 3, true);
  cpu::set_small_gemm_enabled(state.range(2) != 0);
  fwd_bwd(state, {x, w, b}, [&] { return conv2d(x, w, b, 1, 1); });
  cpu::set_small_gemm_enabled(true);
  state.counters["GFLOP/s"] = benchmark::Counter(3 * 2.0 * 8 * c * c * 9 * hw * hw,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}
// The parts: forward alone, and forward + input gradient (the weight frozen), so that each
// backward GEMM's share can be read off as a difference.
static void BM_conv3x3_fwd(benchmark::State& state) {
  const int64_t c = state.range(0), hw = state.range(1);
  Tensor x = randu({8, c, hw, hw}, 1), w = randu({c, c, 3, 3}, 2), b = randu({c}, 3);
  for (auto _ : state) benchmark::DoNotOptimize(conv2d(x, w, b, 1, 1).raw_data());
}
static void BM_conv3x3_input_grad(benchmark::State& state) {
  const int64_t c = state.range(0), hw = state.range(1);
  Tensor x = randu({8, c, hw, hw}, 1, true), w = randu({c, c, 3, 3}, 2), b = randu({c}, 3);
  fwd_bwd(state, {x}, [&] { return conv2d(x, w, b, 1, 1); });
}
BENCHMARK(BM_conv3x3_fwd)->Name("conv2d_fwd/N8_C32_64x64_k3")->Args({32, 64})->UseRealTime();
BENCHMARK(BM_conv3x3_fwd)->Name("conv2d_fwd/N8_C64_32x32_k3")->Args({64, 32})->UseRealTime();
BENCHMARK(BM_conv3x3_input_grad)
    ->Name("conv2d_fwd_dx/N8_C32_64x64_k3")
    ->Args({32, 64})
    ->UseRealTime();
BENCHMARK(BM_conv3x3_input_grad)
    ->Name("conv2d_fwd_dx/N8_C64_32x32_k3")
    ->Args({64, 32})
    ->UseRealTime();
BENCHMARK(BM_conv3x3)->Name("conv2d_fwd_bwd/N8_C32_64x64_k3")->Args({32, 64, 1})->UseRealTime();
BENCHMARK(BM_conv3x3)->Name("conv2d_fwd_bwd/N8_C64_32x32_k3")->Args({64, 32, 1})->UseRealTime();
BENCHMARK(BM_conv3x3)
    ->Name("conv2d_fwd_bwd/N8_C32_64x64_k3/cblas")
    ->Args({32, 64, 0})
    ->UseRealTime();
BENCHMARK(BM_conv3x3)
    ->Name("conv2d_fwd_bwd/N8_C64_32x32_k3/cblas")
    ->Args({64, 32, 0})
    ->UseRealTime();

BENCHMARK_MAIN();
