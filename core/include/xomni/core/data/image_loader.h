#pragma once
// Batches of image samples from several image datasets mixed by weight, shuffled, split over
// data-parallel ranks, read ahead by a background thread, with an exact resumable position.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "xomni/core/data/image_data.h"

namespace xomni {

// The stream: global sample s (s = 0, 1, 2, ...) comes from dataset c(s), where c(s) is drawn
// from the normalised weights with u = the s-th 53-bit uniform of philox4x32(seed, s / 2)
// (word s % 2), i.e. a deterministic per-sample choice independent of everything else. Each
// dataset d has its own cursor (epoch, position): its k-th sample of epoch e is
// epoch_order(d, e)[k], a Fisher-Yates permutation driven by philox4x32 keyed by the seed with
// counters ((d + 1) << 56) + (e << 32) + step / 2; after its last sample the dataset starts its
// next epoch.
//
// Data parallelism like PackedLoader: global batch k is samples [k*B*D, (k+1)*B*D) with
// D = dp_size, and rank r takes samples k*B*D + r + j*D for j in [0, B). Every rank walks the
// whole stream (reading only its own images), so state() is the same on every rank.
//
// Prefetch: with prefetch >= 1 a background thread prepares up to `prefetch` batches ahead (it
// reads pixels without HDF5, see image_data.cpp); prefetch = 0 reads in next(). state() is the
// position after the last batch next() returned, regardless of read-ahead.
class ImageLoader {
 public:
  ImageLoader(std::vector<std::pair<ImageDataset, double>> datasets_with_weights,
              int64_t batch_size, uint64_t seed, int64_t dp_rank = 0, int64_t dp_size = 1,
              int64_t prefetch = 2);
  ~ImageLoader();
  ImageLoader(const ImageLoader&) = delete;
  ImageLoader& operator=(const ImageLoader&) = delete;

  // The next batch_size samples of this rank. Rethrows a read error of the prefetch thread.
  std::vector<ImageSample> next();

  // {format, seed, number of datasets, global samples consumed, then per dataset: size, weight
  // (the double's bits), epoch, position}. restore() takes the state of a loader with the same
  // seed, datasets (sizes) and weights; batch size and data-parallel layout may differ (it
  // resumes at the same global sample). The following batches equal an uninterrupted run's.
  std::vector<int64_t> state() const;
  void restore(const std::vector<int64_t>& state);

  int64_t samples_consumed() const;  // global samples, all ranks together
  // The sample order of dataset d in `epoch` (a permutation of [0, size)).
  std::vector<int64_t> epoch_order(int64_t d, int64_t epoch) const;
  // The dataset global sample s comes from.
  int64_t choose(int64_t s) const;

 private:
  struct Cursor {
    int64_t epoch = 0, pos = 0;
    std::vector<int64_t> order;
  };
  struct Plan {  // where the samples of one batch come from, and the position after it
    std::vector<std::pair<int64_t, int64_t>> items;  // (dataset, sample index)
    std::vector<int64_t> state_after;
  };
  struct Ready {
    std::vector<ImageSample> samples;
    std::vector<int64_t> state_after;
    std::exception_ptr error;
  };

  std::pair<int64_t, int64_t> take(int64_t s);  // advances dataset c(s)'s cursor
  Plan plan_batch();
  std::vector<int64_t> planner_state() const;
  Ready load(const Plan& p) const;
  void start();
  void stop();
  void run();

  std::vector<ImageDataset> datasets_;
  std::vector<double> weights_, cumulative_;  // cumulative_ normalised to end at 1
  int64_t batch_size_;
  uint64_t seed_;
  int64_t dp_rank_, dp_size_, prefetch_;
  // Planner position (owned by the prefetch thread while it runs).
  int64_t planned_ = 0;
  std::vector<Cursor> cursors_;
  std::vector<int64_t> consumed_state_;  // position after the last batch next() returned

  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Ready> queue_;
  bool stopping_ = false;
};

}  // namespace xomni
