// The vocabulary-parallel fused LM head and cross-entropy against the single-process fused op on
// the whole head (itself checked against linear + cross_entropy in tests/core/ops): nll, d hidden
// (summed over the group by copy_to_tp) and each rank's rows of d weight, in f32 at 1e-6; the
// communication it costs; a target outside the vocabulary.
#include <gtest/gtest.h>

#include "check.h"
#include "xomni/core/ops/linear_cross_entropy.h"
#include "xomni/parallel/mpi_comm.h"
#include "xomni/parallel/vocab_parallel_linear_loss.h"

using namespace xomni;

namespace {

void expect_matches_single_process(int64_t rows_per_rank, int64_t chunk) {
  parallel::CommOptions opt;
  opt.timeout_s = 60;
  auto world = parallel::mpi_world(opt);
  parallel::TensorParallel tp{world.get(), false};
  const int64_t N = 11, H = 8, V = rows_per_rank * world->size();
  Generator gen(9);
  const Tensor hidden = mul(randn({N, H}, gen), 1.5), weight = mul(randn({V, H}, gen), 0.8);
  const Tensor upstream = rand({N}, gen);
  const Tensor targets =
      Tensor::from_vector<int64_t>({0, V - 1, -100, 5, V / 2, 7, -100, 1, V - 2, 3, 2}, {N});

  Tensor h_ref = hidden.clone().set_requires_grad(true),
         w_ref = weight.clone().set_requires_grad(true);
  const Tensor ref = linear_cross_entropy(h_ref, w_ref, targets);
  sum(mul(ref, upstream)).backward();

  const int64_t start = world->rank() * rows_per_rank;
  Tensor h = hidden.clone().set_requires_grad(true);
  Tensor w = slice(weight, 0, start, start + rows_per_rank).contiguous().set_requires_grad(true);
  world->reset_stats();
  const Tensor nll = parallel::vocab_parallel_linear_cross_entropy(parallel::copy_to_tp(h, tp), w,
                                                                   targets, start, tp, -100, chunk);
  EXPECT_EQ(world->stats().calls[int(parallel::CommOp::all_reduce)], 2)
      << "row max, then the sums of exponentials and target logits together";
  sum(mul(nll, upstream)).backward();
  const std::string what =
      "tp=" + std::to_string(world->size()) + " chunk=" + std::to_string(chunk);
  test::expect_close(nll, ref, 1e-6, "nll " + what);
  test::expect_close(h.grad(), h_ref.grad(), 1e-6, "d hidden " + what);
  test::expect_close(w.grad(), slice(w_ref.grad(), 0, start, start + rows_per_rank), 1e-6,
                     "d weight rows " + what);
}

TEST(VocabParallelLinearCrossEntropy, MatchesSingleProcess) {
  expect_matches_single_process(13, 5);   // chunks that do not divide a rank's rows
  expect_matches_single_process(13, 64);  // one chunk larger than a rank's rows
  expect_matches_single_process(16, 0);   // the chunk picked from N
}

TEST(VocabParallelLinearCrossEntropy, OutOfRangeTargetIsAnError) {
  auto world = parallel::mpi_world();
  parallel::TensorParallel tp{world.get(), false};
  const Tensor bad = Tensor::from_vector<int64_t>({int64_t(4 * world->size())}, {1});
  const std::string msg = test::error_message([&] {
    parallel::vocab_parallel_linear_cross_entropy(Tensor::zeros({1, 3}), Tensor::zeros({4, 3}), bad,
                                                  world->rank() * 4, tp);
  });
  EXPECT_TRUE(
      test::contains(msg, "outside the vocabulary [0, " + std::to_string(4 * world->size())))
      << msg;
}

}  // namespace
