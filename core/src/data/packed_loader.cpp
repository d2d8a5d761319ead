// PackedLoader: shuffled documents packed back to back into rows of seq_len + 1 tokens, split
// over data-parallel ranks, with a resumable position (see token_data.h).
#include <algorithm>
#include <numeric>

#include "xomni/core/data/token_data.h"
#include "xomni/core/tensor/random.h"

namespace xomni {

namespace {
constexpr int64_t kStateFormat = 1;
constexpr size_t kStateSize = 9;
constexpr int kEpochShift = 40;  // counters of epoch e are (e << 40) + k
constexpr int64_t kMaxEpoch = int64_t(1) << 23;
constexpr int64_t kIgnore = -100;
// Far beyond any real batch of token ids (2^31 tokens); a bigger one is a typo in the job file.
constexpr int64_t kMaxBatchBytes = int64_t(7 * 8) << 31;
}  // namespace

PackedLoader::PackedLoader(TokenDataset dataset, int64_t seq_len, int64_t batch_size, uint64_t seed,
                           int64_t dp_rank, int64_t dp_size)
    : data_(std::move(dataset)),
      seq_len_(seq_len),
      batch_size_(batch_size),
      seed_(seed),
      dp_rank_(dp_rank),
      dp_size_(dp_size) {
  XOMNI_CHECK(seq_len >= 1, "PackedLoader: seq_len must be >= 1 (got ", seq_len, ")");
  XOMNI_CHECK(batch_size >= 1, "PackedLoader: batch_size must be >= 1 (got ", batch_size, ")");
  XOMNI_CHECK(dp_size >= 1 && dp_rank >= 0 && dp_rank < dp_size, "PackedLoader: dp_rank ", dp_rank,
              " is outside [0, dp_size = ", dp_size, ")");
  // Seven int64 buffers of batch_size x (seq_len + 1) are made per batch: their size must fit in
  // 64 bits and be allocatable (checked here, not at the first batch deep inside training).
  const std::string sizes = detail::concat("PackedLoader: a batch of train.batch_size=", batch_size,
                                           " x train.seq_len=", seq_len);
  const int64_t batch_bytes =
      checked_mul(checked_mul(batch_size, checked_add(seq_len, 1, sizes), sizes), 7 * 8, sizes);
  XOMNI_CHECK(batch_bytes <= kMaxBatchBytes, sizes, " needs ", human_bytes(double(batch_bytes)),
              " of host memory per batch, more than the ", human_bytes(double(kMaxBatchBytes)),
              " a loader allows; lower them");
  XOMNI_CHECK(data_.num_tokens() > 0, "PackedLoader: token dataset ",
              data_.dir().empty() ? std::string("(in memory)") : data_.dir(), " holds no tokens");
  enter_epoch(0);
  skip_to_token();
}

std::vector<int64_t> PackedLoader::epoch_order(int64_t epoch) const {
  XOMNI_CHECK(epoch >= 0 && epoch < kMaxEpoch, "PackedLoader: epoch ", epoch,
              " is outside [0, 2^23)");
  const int64_t n = data_.num_documents();
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t(0));
  // Fisher-Yates: step k (i = n-1-k down to 1) swaps order[i] with order[r % (i+1)], r the k-th
  // 64-bit word of the Philox stream (two per counter). The modulo bias is below (i+1) / 2^64.
  uint32_t w[4] = {0, 0, 0, 0};
  for (int64_t i = n - 1, k = 0; i >= 1; --i, ++k) {
    if (k % 2 == 0) philox4x32(seed_, (uint64_t(epoch) << kEpochShift) + uint64_t(k / 2), w);
    const uint32_t* p = w + 2 * (k % 2);
    const uint64_t r = uint64_t(p[0]) | (uint64_t(p[1]) << 32);
    std::swap(order[size_t(i)], order[size_t(r % uint64_t(i + 1))]);
  }
  return order;
}

void PackedLoader::enter_epoch(int64_t epoch) {
  order_ = epoch_order(epoch);
  epoch_ = epoch;
  doc_ = 0;
  offset_ = 0;
}

void PackedLoader::take_row(int64_t* tokens, int64_t* segments, int64_t* positions,
                            uint8_t* counts) {
  const int64_t row = seq_len_ + 1, n = data_.num_documents();
  int64_t filled = 0, segment = -1;
  while (filled < row) {
    if (doc_ == n) enter_epoch(epoch_ + 1);
    const int64_t d = order_[size_t(doc_)];
    const int64_t size = data_.document_size(d);
    if (offset_ < size) {
      const int64_t take = std::min(size - offset_, row - filled);
      ++segment;
      if (tokens != nullptr) {
        const std::span<const int32_t> doc = data_.document(d);
        const std::span<const uint8_t> mask = data_.document_mask(d);  // empty: all count
        for (int64_t i = 0; i < take; ++i) {
          tokens[filled + i] = doc[size_t(offset_ + i)];
          segments[filled + i] = segment;
          positions[filled + i] = offset_ + i;
          counts[filled + i] = mask.empty() ? 1 : mask[size_t(offset_ + i)];
        }
      }
      offset_ += take;
      filled += take;
    }
    if (offset_ >= size) ++doc_, offset_ = 0;
  }
  skip_to_token();
}

void PackedLoader::skip_to_token() {
  // Terminates: every epoch holds a token (the constructor checks num_tokens > 0).
  for (;;) {
    if (doc_ == data_.num_documents()) enter_epoch(epoch_ + 1);
    if (offset_ < data_.document_size(order_[size_t(doc_)])) return;
    ++doc_, offset_ = 0;
  }
}

PackedBatch PackedLoader::next() {
  const int64_t B = batch_size_, T = seq_len_, R = T + 1;
  std::vector<int64_t> tok(size_t(B * R)), seg(size_t(B * R)), pos(size_t(B * R));
  std::vector<uint8_t> counts(size_t(B * R));
  for (int64_t j = 0; j < B; ++j) {
    for (int64_t s = 0, skip = j == 0 ? dp_rank_ : dp_size_ - 1; s < skip; ++s)
      take_row(nullptr, nullptr, nullptr, nullptr);
    take_row(&tok[size_t(j * R)], &seg[size_t(j * R)], &pos[size_t(j * R)], &counts[size_t(j * R)]);
  }
  for (int64_t s = 0; s < dp_size_ - 1 - dp_rank_; ++s)
    take_row(nullptr, nullptr, nullptr, nullptr);
  global_rows_ += B * dp_size_;

  std::vector<int64_t> input(size_t(B * T)), target(size_t(B * T)), segment_ids(size_t(B * T)),
      positions(size_t(B * T));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) {
      const size_t o = size_t(b * T + t), r = size_t(b * R + t);
      input[o] = tok[r];
      target[o] = seg[r + 1] == seg[r] && counts[r + 1] != 0 ? tok[r + 1] : kIgnore;
      segment_ids[o] = seg[r];
      positions[o] = pos[r];
    }
  return {Tensor::from_vector(input, {B, T}), Tensor::from_vector(target, {B, T}),
          Tensor::from_vector(segment_ids, {B, T}), Tensor::from_vector(positions, {B, T})};
}

std::vector<int64_t> PackedLoader::state() const {
  return {kStateFormat, int64_t(seed_), seq_len_, data_.num_documents(), data_.num_tokens(),
          epoch_,       doc_,           offset_,  global_rows_};
}

void PackedLoader::restore(const std::vector<int64_t>& s) {
  XOMNI_CHECK(s.size() == kStateSize && s[0] == kStateFormat, "PackedLoader::restore: not a ",
              "packed-loader state (expected ", kStateSize, " values starting with format ",
              kStateFormat, ", got ", s.size(), " values)");
  XOMNI_CHECK(uint64_t(s[1]) == seed_ && s[2] == seq_len_, "PackedLoader::restore: the state is ",
              "for seed ", uint64_t(s[1]), " and seq_len ", s[2], ", this loader has seed ", seed_,
              " and seq_len ", seq_len_);
  XOMNI_CHECK(s[3] == data_.num_documents() && s[4] == data_.num_tokens(),
              "PackedLoader::restore: the state is for a dataset of ", s[3], " documents and ",
              s[4], " tokens, this one has ", data_.num_documents(), " and ", data_.num_tokens());
  const int64_t epoch = s[5], doc = s[6], offset = s[7], rows = s[8];
  XOMNI_CHECK(
      epoch >= 0 && epoch < kMaxEpoch && doc >= 0 && doc < data_.num_documents() && rows >= 0,
      "PackedLoader::restore: invalid position (epoch ", epoch, ", document ", doc, ", rows ", rows,
      ")");
  std::vector<int64_t> order = epoch_order(epoch);
  const int64_t size = data_.document_size(order[size_t(doc)]);
  XOMNI_CHECK(offset >= 0 && offset < size, "PackedLoader::restore: offset ", offset,
              " is outside document ", order[size_t(doc)], " of ", size, " tokens");
  order_ = std::move(order);
  epoch_ = epoch;
  doc_ = doc;
  offset_ = offset;
  global_rows_ = rows;
}

}  // namespace xomni
