// The device seam: ops find their kernels in the table of their inputs' device, and a device
// without a table or an allocator is refused with a clear error.
#include <gtest/gtest.h>

#include <atomic>

// A white-box test of core's private seam (as test_vec_math.cpp is of its private header).
#include "check.h"
#include "ops/kernels.h"
#include "xomni/core/ops/fused.h"
#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni {
namespace {

using test::contains;
using test::error_message;

TEST(KernelTable, CpuTableIsFoundForCpu) {
  const Kernels& k = kernels_for(Device::cpu());
  EXPECT_NE(k.binary, nullptr);
  EXPECT_NE(k.matmul, nullptr);
  EXPECT_NE(k.attention_forward, nullptr);
}

TEST(KernelTable, CudaWithoutTableIsRefusedClearly) {
  const std::string m = error_message([] { kernels_for(Device::cuda(0)); });
  EXPECT_TRUE(contains(m, "no kernels for device cuda:0 in this build (built without CUDA)")) << m;
}

TEST(KernelTable, CudaStorageWithoutAllocatorIsRefusedClearly) {
  std::string m = error_message([] { Tensor::empty({2, 3}, DType::f32, Device::cuda(0)); });
  EXPECT_TRUE(contains(m, "no allocator for device cuda:0 in this build (built without CUDA)"))
      << m;
  m = error_message([] { Storage(16, Device::cuda(0)); });
  EXPECT_TRUE(contains(m, "no allocator for device cuda:0")) << m;
}

// Swaps the CPU table for a copy whose binary kernel counts its calls before running the real
// one; restores the real table when it goes out of scope.
class CountingCpuTable {
 public:
  CountingCpuTable() : real_(&kernels_for(Device::cpu())), counting_(*real_) {
    real_binary = real_->binary;
    calls = 0;
    counting_.binary = [](BinaryOp op, const Tensor& a, const Tensor& b) {
      ++calls;
      return real_binary(op, a, b);
    };
    register_kernels(Device::Kind::cpu, &counting_);
  }
  ~CountingCpuTable() { register_kernels(Device::Kind::cpu, real_); }
  CountingCpuTable(const CountingCpuTable&) = delete;
  CountingCpuTable& operator=(const CountingCpuTable&) = delete;

  static inline Tensor (*real_binary)(BinaryOp, const Tensor&, const Tensor&) = nullptr;
  static inline std::atomic<int> calls{0};

 private:
  const Kernels* real_;
  Kernels counting_;
};

TEST(KernelTable, OpsRunTheKernelsOfTheRegisteredTable) {
  const Tensor a = Tensor::from_vector<float>({1, 2, 3}, {3}).set_requires_grad();
  const Tensor b = Tensor::from_vector<float>({4, 5, 6}, {3});
  const Kernels* before = &kernels_for(Device::cpu());
  {
    CountingCpuTable counting;
    Tensor y = add(a, b);
    EXPECT_EQ(CountingCpuTable::calls, 1);
    EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{5, 7, 9}));
    Tensor z = mul(a, b);
    EXPECT_EQ(CountingCpuTable::calls, 2);
    sum(z).backward();  // mul's backward multiplies g by b: one more binary kernel
    EXPECT_EQ(CountingCpuTable::calls, 3);
    EXPECT_EQ(a.grad().to_vector<float>(), (std::vector<float>{4, 5, 6}));
  }
  EXPECT_EQ(&kernels_for(Device::cpu()), before);
  add(a, b);
  EXPECT_EQ(CountingCpuTable::calls, 3);  // the real table is back
}

// add_rms_norm's backward folds the gradient that reached the sum directly into its own pass:
// with both outputs receiving a gradient, no separate add runs (the plain add + rms_norm sums
// the two gradients of the sum with a binary kernel).
TEST(KernelTable, FusedResidualNormBackwardRunsNoSeparateAdd) {
  const Tensor x = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}).set_requires_grad();
  const Tensor r = Tensor::from_vector<float>({1, -1, 2, 0, 3, 1}, {2, 3}).set_requires_grad();
  const Tensor w = Tensor::from_vector<float>({1, 2, 3}, {3}).set_requires_grad();
  const Tensor g = Tensor::ones({2, 3});
  CountingCpuTable counting;
  const AddRmsNorm f = add_rms_norm(x, r, w, 1e-6);
  const int before = CountingCpuTable::calls;
  run_backward({f.sum, f.normed}, {g, g});
  EXPECT_EQ(CountingCpuTable::calls, before);
  const Tensor s = add(x, r), y = rms_norm(s, w, 1e-6);
  const int plain = CountingCpuTable::calls;
  run_backward({s, y}, {g, g});
  EXPECT_GT(CountingCpuTable::calls, plain);
}

}  // namespace
}  // namespace xomni
