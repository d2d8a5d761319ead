// Storage::set_pending: contents still arriving (a parameter all-gather in flight) are filled
// once, before the first access by any tensor or view on the storage, and other threads wait
// for the fill instead of reading what was there before. Also the CPU allocator's live and peak
// bytes.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "check.h"
#include "xomni/core/tensor/storage.h"
#include "xomni/core/tensor/tensor.h"

using namespace xomni;

namespace {
Storage& storage_of(const Tensor& t) {
  return *t.impl().storage;
}
}  // namespace

TEST(StoragePending, FillRunsOnceBeforeTheFirstAccessOfAnyView) {
  Tensor t = Tensor::zeros({2, 3});
  Tensor row = make_view(t, {3}, {1}, 3);  // the second row: same storage, offset 3
  int fills = 0;
  void* seen = nullptr;
  storage_of(t).set_pending([&](void* base) {
    ++fills;
    seen = base;
    float* f = static_cast<float*>(base);
    for (int i = 0; i < 6; ++i) f[i] = float(10 + i);
  });
  EXPECT_TRUE(storage_of(row).pending());
  EXPECT_EQ(fills, 0);  // metadata does not touch the data
  EXPECT_EQ(row.shape(), (Shape{3}));
  // The view's first read fills the whole storage, at its base, not at the view's offset.
  EXPECT_EQ(row.to_vector<float>(), (std::vector<float>{13, 14, 15}));
  EXPECT_EQ(fills, 1);
  EXPECT_EQ(seen, static_cast<float*>(t.raw_data()));
  EXPECT_FALSE(storage_of(t).pending());
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{10, 11, 12, 13, 14, 15}));
  EXPECT_EQ(fills, 1);
}

TEST(StoragePending, AnEmptyFillClearsAndAThrowingOneStaysPending) {
  Tensor t = Tensor::full({4}, 2.0);
  storage_of(t).set_pending([](void*) { FAIL() << "cleared fills must not run"; });
  storage_of(t).set_pending(nullptr);
  EXPECT_FALSE(storage_of(t).pending());
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>(4, 2.0f)));

  int tries = 0;
  storage_of(t).set_pending([&](void* base) {
    if (++tries == 1) throw Error("the peer is gone");
    static_cast<float*>(base)[0] = 7.0f;
  });
  EXPECT_NE(test::error_message([&] { (void)t.raw_data(); }).find("the peer is gone"),
            std::string::npos);
  EXPECT_TRUE(storage_of(t).pending());
  EXPECT_EQ(t.to_vector<float>()[0], 7.0f);  // the next access tries again
  EXPECT_EQ(tries, 2);
}

// A second thread touching the storage while the first one fills it sees the filled values.
TEST(StoragePending, OtherThreadsWaitForTheFill) {
  Tensor t = Tensor::zeros({1});
  std::atomic<bool> filling{false};
  storage_of(t).set_pending([&](void* base) {
    filling = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    static_cast<float*>(base)[0] = 42.0f;
  });
  float other = -1.0f;
  std::thread filler([&] { (void)t.raw_data(); });
  while (!filling) std::this_thread::yield();
  std::thread reader([&] { other = t.data<float>()[0]; });
  filler.join();
  reader.join();
  EXPECT_EQ(other, 42.0f);
}

// The allocator's live and peak bytes follow tensors' lifetimes (size classes: a 1 MiB f32
// tensor is one 1 MiB block), whether the block comes fresh or from the cache.
TEST(CpuAllocatorStats, LiveAndPeakBytesFollowTensors) {
  const size_t mib = size_t(1) << 20;
  cpu_allocator::reset_peak();
  const size_t base = cpu_allocator::live_bytes();
  EXPECT_EQ(cpu_allocator::peak_live_bytes(), base);
  {
    Tensor a = Tensor::empty({int64_t(mib / 4)});
    EXPECT_EQ(cpu_allocator::live_bytes(), base + mib);
    {
      Tensor b = Tensor::empty({int64_t(mib / 4)});
      EXPECT_EQ(cpu_allocator::live_bytes(), base + 2 * mib);
    }
    EXPECT_EQ(cpu_allocator::live_bytes(), base + mib);  // b went back (to the cache)
    Tensor c = Tensor::empty({int64_t(mib / 4)});        // ... and comes out again
    EXPECT_EQ(cpu_allocator::live_bytes(), base + 2 * mib);
  }
  EXPECT_EQ(cpu_allocator::live_bytes(), base);
  EXPECT_EQ(cpu_allocator::peak_live_bytes(), base + 2 * mib);
  cpu_allocator::reset_peak();
  EXPECT_EQ(cpu_allocator::peak_live_bytes(), base);
}
