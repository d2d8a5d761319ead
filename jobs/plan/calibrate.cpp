#include "plan/calibrate.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "xomni/core/ops/linear_cross_entropy.h"
#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"
#include "xomni/core/tensor/random.h"

namespace xomni::plan {
namespace {

using Clock = std::chrono::steady_clock;

template <class F>
double best_seconds(int repeats, F&& f) {
  f();  // warm-up: page faults, OpenBLAS buffers
  double best = 1e30;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = Clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return best;
}

}  // namespace

Calibration calibrate_cpu(const PlanJob& job, parallel::Communicator& world, int repeats) {
  Calibration c;
  c.device = device_spec("cpu");
  const PlanModel& m = job.model;
  const int64_t rows = std::max<int64_t>(1, job.batch_size * job.seq_len);
  const int64_t hd = m.hidden / m.heads;
  // The linears of one layer with how many of each it has, and the head(s).
  struct Shape3 {
    const char* name;
    int64_t in, out;
    double per_layer;  // 0: a head, once per step
  };
  std::vector<Shape3> shapes = {
      {"q", m.hidden, m.heads * hd, 1},      {"k|v", m.hidden, m.kv_heads * hd, 2},
      {"o", m.heads * hd, m.hidden, 1},      {"gate|up", m.hidden, m.intermediate, 2},
      {"down", m.intermediate, m.hidden, 1}, {"head", m.hidden, m.vocab, 0}};
  if (m.xomni) shapes.push_back({"mm head", m.hidden, m.mm_vocab, 0});
  // The step's mix, weighted as the step runs it: every layer's linears and the head(s); FLOP/s
  // of the whole mix. Each runs forward and backward through autograd (the input's and the
  // weight's gradients: the transposed products a training step runs too, at other rates). The
  // head runs as the step does (fused with the loss unless model.fused_head_loss is off), with
  // its FLOPs counted as the model counts them (6 per weight per token).
  Generator gen(1);
  auto gemm_mix = [&](int64_t n_rows, bool record) {
    double flops = 0, seconds = 0;
    for (const Shape3& s : shapes) {
      Tensor x = randn({n_rows, s.in}, gen), w = randn({s.out, s.in}, gen);
      x.set_requires_grad(true);
      w.set_requires_grad(true);
      const bool fused = s.per_layer == 0 && job.fused_head_loss;
      const Tensor dy = fused ? Tensor::ones({n_rows}) : randn({n_rows, s.out}, gen);
      Tensor targets = Tensor::zeros({n_rows}, DType::i64);
      int64_t* t_ids = targets.data<int64_t>();
      for (int64_t r = 0; r < n_rows; ++r) t_ids[r] = (r * 7919) % s.out;
      const double t = best_seconds(repeats, [&] {
        x.zero_grad();
        w.zero_grad();
        run_backward({fused ? linear_cross_entropy(x, w, targets) : linear(x, w)}, {dy});
      });
      const double f = 3 * 2.0 * double(n_rows) * double(s.in) * double(s.out);
      if (record) c.gemm_gflops.emplace_back(s.name, f / t / 1e9);
      const double times = s.per_layer > 0 ? s.per_layer * double(m.layers) : 1.0;
      flops += times * f;
      seconds += times * t;
    }
    return flops / seconds;
  };
  // An elementwise add of two 64 MiB tensors: two reads and one write.
  const Tensor a = randn({int64_t(1) << 24}, gen), b = randn({int64_t(1) << 24}, gen);
  auto memory_pass = [&] {
    const double t = best_seconds(repeats, [&] { (void)add(a, b); });
    return 3.0 * double(a.numel()) * 4.0 / t;
  };
  // Causal attention forward and backward of one layer at the micro-batch's shape, with FLOPs
  // counted as the model counts them (12 x hidden x T / 2 per token).
  auto attention_rate = [&] {
    const int64_t nb = std::max<int64_t>(1, job.batch_size), t = job.seq_len;
    Tensor q = randn({nb, m.heads, t, hd}, gen), k = randn({nb, m.kv_heads, t, hd}, gen);
    Tensor v = randn({nb, m.kv_heads, t, hd}, gen);
    for (Tensor* x : {&q, &k, &v}) x->set_requires_grad(true);
    const Tensor dy = randn({nb, m.heads, t, hd}, gen);
    AttentionOptions causal;
    causal.causal = true;
    const double seconds = best_seconds(repeats, [&] {
      for (Tensor* x : {&q, &k, &v}) x->zero_grad();
      run_backward({scaled_dot_product_attention(q, k, v, causal)}, {dy});
    });
    return 12.0 * double(m.hidden) * double(t) / 2.0 * double(nb * t) / seconds;
  };
  // Rank 0 alone (the others wait at the first all-reduce; MPI polls with sleeps).
  if (world.rank() == 0) {
    c.gemm_alone_flops = gemm_mix(rows, true);
    c.device.achievable = c.gemm_alone_flops / c.device.peak_flops_fp32;
    // Fewer rows per rank (dp, pp micro-batches, cp): the mix at 1/2, 1/4 and 1/8 of them too.
    c.device.achievable_by_rows = {{rows, c.device.achievable}};
    for (int64_t r = rows / 2; r >= 16 && r >= rows / 8; r /= 2)
      c.device.achievable_by_rows.insert(c.device.achievable_by_rows.begin(),
                                         {r, gemm_mix(r, false) / c.device.peak_flops_fp32});
    c.attention_flops = attention_rate();
    c.device.attention_achievable = c.attention_flops / c.device.peak_flops_fp32;
    c.device.memory_bw = memory_pass();
  }
  if (world.size() > 1) {
    Tensor small = Tensor::zeros({2}, DType::f32);
    Tensor large = Tensor::zeros({int64_t(4) << 20}, DType::f32);  // 16 MiB
    c.allreduce_small_s = best_seconds(repeats * 4, [&] { world.all_reduce(small); });
    c.allreduce_large_s = best_seconds(repeats, [&] { world.all_reduce(large); });
    c.allreduce_large_bytes = large.numel() * 4;
    const double n = double(world.size());
    // Ring all-reduce: 2(n-1) steps of latency, 2(n-1)/n of the buffer over the link.
    c.device.intra_latency = c.allreduce_small_s / (2.0 * (n - 1));
    c.device.intra_bw = 2.0 * (n - 1) / n * double(c.allreduce_large_bytes) /
                        std::max(1e-9, c.allreduce_large_s - c.allreduce_small_s);
    c.device.inter_bw = c.device.intra_bw;
    c.device.inter_latency = c.device.intra_latency;
  }
  // Every rank at once: the node's compute and memory bandwidth in ranks' worth of rank 0's alone.
  Tensor v = Tensor::zeros({5}, DType::f64);
  if (world.size() > 1) {
    world.barrier();
    v.data<double>()[2] = gemm_mix(rows, false);
    world.barrier();
    v.data<double>()[4] = memory_pass();
  }
  if (world.rank() == 0) {
    v.data<double>()[0] = c.device.achievable;
    v.data<double>()[1] = c.device.memory_bw;
    v.data<double>()[3] = c.device.attention_achievable;
  }
  if (world.size() > 1) world.all_reduce(v);
  c.device.achievable = v.data<double>()[0];
  c.device.memory_bw = v.data<double>()[1];
  c.device.attention_achievable = v.data<double>()[3];
  if (world.size() > 1) {
    c.gemm_together_flops = v.data<double>()[2];
    const double alone = c.device.achievable * c.device.peak_flops_fp32;
    c.device.cores = std::clamp(c.gemm_together_flops / alone, 1.0, double(world.size()));
    c.memory_together_bw = v.data<double>()[4];
    c.device.memory_cores =
        std::clamp(c.memory_together_bw / c.device.memory_bw, 1.0, double(world.size()));
  }
  c.device.provenance = "xomni plan --calibrate at " + std::to_string(world.size()) + " rank(s)";
  return c;
}

}  // namespace xomni::plan
