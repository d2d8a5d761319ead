#pragma once
// The toy model the pipeline schedule tests split over stages: an MLP of Linear + tanh layers on
// micro-batches of random rows with a mean-squared-error loss, and the world as the pp group with
// a short timeout (a deadlock in a schedule fails with the comm timeout's report, not a hang).
#include <memory>
#include <vector>

#include "check.h"
#include "xomni/core/nn/nn.h"
#include "xomni/parallel/mpi_comm.h"

namespace xomni::test {

inline std::unique_ptr<parallel::MpiCommunicator> pipeline_world() {
  parallel::CommOptions o;
  o.timeout_s = 30;
  return parallel::mpi_world(o);
}

constexpr int64_t kWidth = 16, kRows = 1024;  // 64 KiB of f32: above what MPI sends eagerly

struct Mlp {
  std::vector<std::unique_ptr<nn::Linear>> layers;
  explicit Mlp(int64_t n) {
    Generator gen(1234);
    for (int64_t i = 0; i < n; ++i)
      layers.push_back(std::make_unique<nn::Linear>(kWidth, kWidth, true, gen, 0.3));
  }
  Tensor run(Tensor h, int64_t begin, int64_t end) const {
    for (int64_t i = begin; i < end; ++i) h = tanh((*layers[size_t(i)])(h));
    return h;
  }
};

inline Tensor micro_input(int64_t m) {
  return uniform({kRows, kWidth}, 100 + uint64_t(m), DType::f32);
}
inline Tensor micro_target(int64_t m) {
  return uniform({kRows, kWidth}, 500 + uint64_t(m), DType::f32);
}
inline Tensor loss_of(const Tensor& h, int64_t m) {
  const Tensor d = h - micro_target(m);
  return mean(d * d);
}

}  // namespace xomni::test
