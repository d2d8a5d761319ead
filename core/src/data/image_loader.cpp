// ImageLoader: weighted mixing of shuffled image datasets, data-parallel split, read-ahead
// thread and resumable position (see image_loader.h).
#include "xomni/core/data/image_loader.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <numeric>

#include "xomni/core/tensor/error.h"
#include "xomni/core/tensor/random.h"

namespace xomni {

namespace {
constexpr int64_t kStateFormat = 1;
constexpr size_t kHeader = 4, kPerDataset = 4;
constexpr int64_t kMaxEpoch = int64_t(1) << 24;  // counters: (d + 1) << 56 | e << 32 | k / 2
constexpr int64_t kMaxDatasets = 255;
constexpr int64_t kMaxSize = int64_t(1) << 32;
}  // namespace

ImageLoader::ImageLoader(std::vector<std::pair<ImageDataset, double>> datasets_with_weights,
                         int64_t batch_size, uint64_t seed, int64_t dp_rank, int64_t dp_size,
                         int64_t prefetch)
    : batch_size_(batch_size),
      seed_(seed),
      dp_rank_(dp_rank),
      dp_size_(dp_size),
      prefetch_(prefetch) {
  XOMNI_CHECK(batch_size >= 1, "ImageLoader: batch_size must be >= 1 (got ", batch_size, ")");
  // A batch's samples are drawn from batch_size x dp_size global ones; that count must not wrap.
  checked_mul(batch_size, std::max<int64_t>(dp_size, 1),
              detail::concat("ImageLoader: batch_size ", batch_size, " x dp_size ", dp_size));
  XOMNI_CHECK(dp_size >= 1 && dp_rank >= 0 && dp_rank < dp_size, "ImageLoader: dp_rank ", dp_rank,
              " is outside [0, dp_size = ", dp_size, ")");
  XOMNI_CHECK(prefetch >= 0, "ImageLoader: prefetch must be >= 0 (got ", prefetch, ")");
  XOMNI_CHECK(
      !datasets_with_weights.empty() && int64_t(datasets_with_weights.size()) <= kMaxDatasets,
      "ImageLoader: needs 1 to ", kMaxDatasets, " datasets (got ", datasets_with_weights.size(),
      ")");
  double total = 0;
  for (auto& [d, w] : datasets_with_weights) {
    XOMNI_CHECK(std::isfinite(w) && w >= 0, "ImageLoader: dataset ", d.dir(), " has weight ", w,
                " (must be finite and >= 0)");
    XOMNI_CHECK(w == 0 || d.size() > 0, "ImageLoader: dataset ", d.dir(),
                " is empty but has weight ", w);
    XOMNI_CHECK(d.size() < kMaxSize, "ImageLoader: dataset ", d.dir(), " has ", d.size(),
                " samples; at most 2^32 are supported");
    datasets_.push_back(d);
    weights_.push_back(w);
    total += w;
  }
  XOMNI_CHECK(total > 0, "ImageLoader: the dataset weights sum to 0");
  double acc = 0;
  for (double w : weights_) cumulative_.push_back((acc += w) / total);
  cursors_.resize(datasets_.size());
  for (size_t d = 0; d < datasets_.size(); ++d) cursors_[d].order = epoch_order(int64_t(d), 0);
  consumed_state_ = planner_state();
  start();
}

ImageLoader::~ImageLoader() {
  stop();
}

std::vector<int64_t> ImageLoader::epoch_order(int64_t d, int64_t epoch) const {
  XOMNI_CHECK(d >= 0 && d < int64_t(datasets_.size()), "ImageLoader: no dataset ", d);
  XOMNI_CHECK(epoch >= 0 && epoch < kMaxEpoch, "ImageLoader: epoch ", epoch,
              " is outside [0, 2^24)");
  const int64_t n = datasets_[size_t(d)].size();
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t(0));
  // Fisher-Yates as in PackedLoader: step k swaps order[i] (i = n-1-k) with order[r % (i+1)].
  const uint64_t base = (uint64_t(d + 1) << 56) + (uint64_t(epoch) << 32);
  uint32_t w[4] = {0, 0, 0, 0};
  for (int64_t i = n - 1, k = 0; i >= 1; --i, ++k) {
    if (k % 2 == 0) philox4x32(seed_, base + uint64_t(k / 2), w);
    const uint32_t* p = w + 2 * (k % 2);
    const uint64_t r = uint64_t(p[0]) | (uint64_t(p[1]) << 32);
    std::swap(order[size_t(i)], order[size_t(r % uint64_t(i + 1))]);
  }
  return order;
}

int64_t ImageLoader::choose(int64_t s) const {
  uint32_t w[4];
  philox4x32(seed_, uint64_t(s) / 2, w);  // counters below 2^56: disjoint from epoch orders
  const uint32_t* p = w + 2 * (s % 2);
  const uint64_t r = uint64_t(p[0]) | (uint64_t(p[1]) << 32);
  const double u = double(r >> 11) * 0x1p-53;
  for (size_t d = 0; d < cumulative_.size(); ++d)
    if (u < cumulative_[d] && weights_[d] > 0) return int64_t(d);
  for (size_t d = cumulative_.size(); d-- > 0;)  // u above a rounded last cumulative
    if (weights_[d] > 0) return int64_t(d);
  return 0;
}

std::pair<int64_t, int64_t> ImageLoader::take(int64_t s) {
  const int64_t d = choose(s);
  Cursor& c = cursors_[size_t(d)];
  if (c.pos == int64_t(c.order.size())) {
    c.order = epoch_order(d, c.epoch + 1);
    ++c.epoch;
    c.pos = 0;
  }
  return {d, c.order[size_t(c.pos++)]};
}

ImageLoader::Plan ImageLoader::plan_batch() {
  Plan p;
  const int64_t n = batch_size_ * dp_size_;
  for (int64_t i = 0; i < n; ++i) {
    const auto item = take(planned_ + i);
    if (i % dp_size_ == dp_rank_) p.items.push_back(item);
  }
  planned_ += n;
  p.state_after = planner_state();
  return p;
}

std::vector<int64_t> ImageLoader::planner_state() const {
  std::vector<int64_t> s{kStateFormat, int64_t(seed_), int64_t(datasets_.size()), planned_};
  for (size_t d = 0; d < datasets_.size(); ++d) {
    s.push_back(datasets_[d].size());
    s.push_back(std::bit_cast<int64_t>(weights_[d]));
    s.push_back(cursors_[d].epoch);
    s.push_back(cursors_[d].pos);
  }
  return s;
}

ImageLoader::Ready ImageLoader::load(const Plan& p) const {
  Ready r;
  r.state_after = p.state_after;
  try {
    r.samples.reserve(p.items.size());
    for (const auto& [d, i] : p.items) r.samples.push_back(datasets_[size_t(d)].get(i));
  } catch (...) {
    r.error = std::current_exception();
  }
  return r;
}

void ImageLoader::start() {
  if (prefetch_ == 0) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void ImageLoader::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void ImageLoader::run() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || int64_t(queue_.size()) < prefetch_; });
      if (stopping_) return;
    }
    Ready r;
    try {
      r = load(plan_batch());
    } catch (...) {
      r.error = std::current_exception();
    }
    const bool failed = bool(r.error);
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(r));
    }
    cv_.notify_all();
    if (failed) return;  // next() rethrows; nothing after a failed batch is well defined
  }
}

std::vector<ImageSample> ImageLoader::next() {
  Ready r;
  if (prefetch_ == 0) {
    r = load(plan_batch());
  } else {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return !queue_.empty(); });
    if (queue_.front().error) {
      r.error = queue_.front().error;  // a failure stays queued: later calls fail the same way
    } else {
      r = std::move(queue_.front());
      queue_.pop_front();
    }
    lock.unlock();
    cv_.notify_all();
  }
  if (r.error) std::rethrow_exception(r.error);
  consumed_state_ = std::move(r.state_after);
  return std::move(r.samples);
}

std::vector<int64_t> ImageLoader::state() const {
  return consumed_state_;
}

int64_t ImageLoader::samples_consumed() const {
  return consumed_state_[3];
}

void ImageLoader::restore(const std::vector<int64_t>& s) {
  const size_t nd = datasets_.size();
  XOMNI_CHECK(s.size() == kHeader + kPerDataset * nd && s[0] == kStateFormat,
              "ImageLoader::restore: not an image-loader state for ", nd, " datasets (expected ",
              kHeader + kPerDataset * nd, " values starting with format ", kStateFormat, ", got ",
              s.size(), " values)");
  XOMNI_CHECK(uint64_t(s[1]) == seed_ && s[2] == int64_t(nd), "ImageLoader::restore: the state is ",
              "for seed ", uint64_t(s[1]), " and ", s[2], " datasets, this loader has seed ", seed_,
              " and ", nd);
  XOMNI_CHECK(s[3] >= 0, "ImageLoader::restore: negative sample count ", s[3]);
  std::vector<Cursor> cursors(nd);
  for (size_t d = 0; d < nd; ++d) {
    const int64_t* v = s.data() + kHeader + kPerDataset * d;
    XOMNI_CHECK(v[0] == datasets_[d].size() && v[1] == std::bit_cast<int64_t>(weights_[d]),
                "ImageLoader::restore: dataset ", d, " of the state has ", v[0],
                " samples and weight ", std::bit_cast<double>(v[1]), ", this loader's (",
                datasets_[d].dir(), ") has ", datasets_[d].size(), " and ", weights_[d]);
    XOMNI_CHECK(v[2] >= 0 && v[2] < kMaxEpoch && v[3] >= 0 && v[3] <= v[0],
                "ImageLoader::restore: invalid position of dataset ", d, " (epoch ", v[2],
                ", position ", v[3], ")");
    cursors[d].epoch = v[2];
    cursors[d].pos = v[3];
    cursors[d].order = epoch_order(int64_t(d), v[2]);
  }
  stop();
  queue_.clear();
  cursors_ = std::move(cursors);
  planned_ = s[3];
  consumed_state_ = planner_state();
  start();
}

}  // namespace xomni
