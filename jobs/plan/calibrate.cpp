#include "plan/calibrate.h"

#include <algorithm>
#include <chrono>

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
  struct Shape3 {
    const char* name;
    int64_t in, out;
  };
  const Shape3 shapes[] = {
      {"q", m.hidden, m.heads * hd},      {"k|v", m.hidden, m.kv_heads * hd},
      {"o", m.heads * hd, m.hidden},      {"gate|up", m.hidden, m.intermediate},
      {"down", m.intermediate, m.hidden}, {"head", m.hidden, m.vocab}};
  // The step's mix: q, o, head once, k|v and gate|up twice; FLOP/s of the whole mix. Each linear
  // runs forward and backward through autograd (the input's and the weight's gradients: the
  // transposed products a training step runs too, which OpenBLAS does at other rates).
  Generator gen(1);
  auto gemm_mix = [&](bool record) {
    double flops = 0, seconds = 0;
    for (const Shape3& s : shapes) {
      Tensor x = randn({rows, s.in}, gen), w = randn({s.out, s.in}, gen);
      x.set_requires_grad(true);
      w.set_requires_grad(true);
      const Tensor dy = randn({rows, s.out}, gen);
      const double t = best_seconds(repeats, [&] {
        x.zero_grad();
        w.zero_grad();
        run_backward({linear(x, w)}, {dy});
      });
      const double f = 3 * 2.0 * double(rows) * double(s.in) * double(s.out);
      if (record) c.gemm_gflops.emplace_back(s.name, f / t / 1e9);
      const double times =
          (std::string(s.name) == "k|v" || std::string(s.name) == "gate|up") ? 2 : 1;
      flops += times * f;
      seconds += times * t;
    }
    return flops / seconds;
  };
  // Rank 0 alone (the others wait at the first all-reduce; MPI polls with sleeps).
  if (world.rank() == 0) {
    c.gemm_alone_flops = gemm_mix(true);
    c.device.achievable = c.gemm_alone_flops / c.device.peak_flops_fp32;
    const Tensor a = randn({int64_t(1) << 24}, gen), b = randn({int64_t(1) << 24}, gen);
    const double t = best_seconds(repeats, [&] { (void)add(a, b); });
    c.device.memory_bw = 3.0 * double(a.numel()) * 4.0 / t;  // two reads, one write
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
  // Every rank at once: the node's compute in cores' worth of rank 0's rate alone.
  Tensor v = Tensor::zeros({3}, DType::f64);
  if (world.size() > 1) {
    world.barrier();
    v.data<double>()[2] = gemm_mix(false);
  }
  if (world.rank() == 0) {
    v.data<double>()[0] = c.device.achievable;
    v.data<double>()[1] = c.device.memory_bw;
  }
  if (world.size() > 1) world.all_reduce(v);
  c.device.achievable = v.data<double>()[0];
  c.device.memory_bw = v.data<double>()[1];
  if (world.size() > 1) {
    c.gemm_together_flops = v.data<double>()[2];
    const double alone = c.device.achievable * c.device.peak_flops_fp32;
    c.device.cores = std::clamp(c.gemm_together_flops / alone, 1.0, double(world.size()));
  }
  c.device.provenance = "xomni plan --calibrate at " + std::to_string(world.size()) + " rank(s)";
  return c;
}

}  // namespace xomni::plan
