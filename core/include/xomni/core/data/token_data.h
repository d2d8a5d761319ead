#pragma once
// Tokenized text on disk and the packed-sequence loader that feeds language-model training.
//
// On disk a token dataset is a folder:
//   <dir>/shard-00000.h5, shard-00001.h5, ...  HDF5, each with
//       "tokens"       int32 [n_tokens]        the documents' token ids back to back
//       "doc_offsets"  int64 [n_documents + 1] document d is tokens[off[d] : off[d+1]]
//       "loss_mask"    uint8 [n_tokens]        optional (format version 3): 1 = the token counts
//                                              as a target, 0 = it never does
//       attributes "vocab_size" (int64) and "format_version" (int64)
//   <dir>/manifest.json                        {"format": "xomni-token-shards",
//       "format_version", "vocab_size", "num_documents", "num_tokens", "has_loss_mask",
//       "shards": [{"file", "num_documents", "num_tokens", "bytes", "crc32"}, ...]}
// "bytes" and "crc32" (zlib's CRC-32 of the whole shard file, format version 2) are checked
// before HDF5 opens a shard: libhdf5 can corrupt memory on a damaged file. Manifests without
// them (version 1) are refused with how to rewrite the dataset.
// "has_loss_mask" (version 3; absent = false) says whether every shard holds "loss_mask"; without
// one every token counts (versions 1 and 2 have none). The mask lets a multimodal document say
// which of its tokens are supervised (the codes of a generation document, the answer of an
// understanding one): a multimodal dataset's ids are text ids and vocab_size + image code ids.
// Documents never straddle shards; global document i is document i - first(shard) of its shard.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "xomni/core/tensor/tensor.h"

namespace xomni {

inline constexpr int64_t kTokenShardFormatVersion = 3;

struct TokenShardInfo {
  std::string file;  // name inside the dataset folder ("shard-00000.h5")
  int64_t num_documents = 0;
  int64_t num_tokens = 0;
};

// Writes `documents` as shards of about `tokens_per_shard` tokens (a shard is closed before the
// document that would take it past the limit; a longer document gets a shard of its own) and
// then manifest.json. Each file is written under "<name>.tmp", fsynced and renamed, the manifest
// last, so a reader sees either the old manifest or the complete new dataset (shards of an older
// dataset in the same folder are replaced one by one before that; the reader's count checks catch
// a mix). Shards of an older, larger dataset beyond the new count are removed at the end. Token
// ids must be in [0, vocab_size). Returns the shard list written to the manifest.
std::vector<TokenShardInfo> write_token_shards(const std::string& dir,
                                               const std::vector<std::vector<int32_t>>& documents,
                                               int64_t tokens_per_shard, int64_t vocab_size);
// The same with a loss mask: masks[d][k] (0 or 1) says whether token k of document d counts as a
// target; masks[d] must be as long as documents[d].
std::vector<TokenShardInfo> write_token_shards(const std::string& dir,
                                               const std::vector<std::vector<int32_t>>& documents,
                                               const std::vector<std::vector<uint8_t>>& masks,
                                               int64_t tokens_per_shard, int64_t vocab_size);

// A read-only token dataset. open() reads the manifest and every shard into memory (fine for the
// corpus sizes trained so far; a memory-mapped or on-demand reader can replace it behind this
// interface). Copies share the data.
class TokenDataset {
 public:
  // Throws Error naming the file for a missing or unreadable manifest or shard, a manifest that
  // does not match its shards (counts, vocabulary size), a newer format version, bad document
  // offsets, a token id outside [0, vocab_size), or a loss mask that is missing where the
  // manifest declares one, present where it does not, of another length or not 0/1.
  static TokenDataset open(const std::string& dir);

  // Builds a dataset in memory (tests, small synthetic corpora); same id checks as open().
  static TokenDataset from_documents(const std::vector<std::vector<int32_t>>& documents,
                                     int64_t vocab_size);
  // The same with a loss mask (same checks as write_token_shards).
  static TokenDataset from_documents(const std::vector<std::vector<int32_t>>& documents,
                                     const std::vector<std::vector<uint8_t>>& masks,
                                     int64_t vocab_size);

  int64_t num_documents() const;
  int64_t num_tokens() const;
  int64_t vocab_size() const;
  const std::string& dir() const;  // "" for from_documents
  const std::vector<TokenShardInfo>& shards() const;
  int64_t document_size(int64_t i) const;
  std::span<const int32_t> document(int64_t i) const;  // i in [0, num_documents)
  bool has_loss_mask() const;
  // Document i's loss mask (1 = counts as a target); empty when !has_loss_mask(): every token
  // counts.
  std::span<const uint8_t> document_mask(int64_t i) const;

 private:
  struct Data;
  explicit TokenDataset(std::shared_ptr<const Data> data) : data_(std::move(data)) {}
  std::shared_ptr<const Data> data_;
};

// One batch of packed rows. Row r of a batch is a run of seq_len + 1 consecutive tokens of the
// document stream; T = seq_len.
struct PackedBatch {
  Tensor input;        // i64 [B, T]: row[0:T]
  Tensor target;       // i64 [B, T]: row[1:T+1], -100 where row[t+1] starts another document
                       // or its loss mask is 0
  Tensor segment_ids;  // i64 [B, T]: 0 for the first document piece in the row, then 1, 2, ...
  Tensor positions;    // i64 [B, T]: index of the token inside its document
};

// Packs shuffled documents back to back into rows of seq_len + 1 tokens.
//
// The stream: epoch e visits every document once, in the order epoch_order(e) (Fisher-Yates
// driven by philox4x32 keyed by the seed, counters (e << 40) + k), and the epochs follow each
// other without a gap, so the last row of an epoch continues into the next one. Rows cut the
// stream into consecutive, non-overlapping runs of seq_len + 1 tokens: a document longer than
// the rest of a row continues at the start of the next row, with its positions continuing too
// (RoPE depends only on position differences, so this equals restarting at 0 in the new row).
// Each token of an epoch is therefore exactly once an input token or the last target of a row.
// Empty documents are skipped. A target whose token has loss mask 0 is -100 (the mask changes
// no row, position or state: only which targets count).
//
// Data parallelism: global batch k is global rows [k*B*D, (k+1)*B*D) with D = dp_size; rank r
// takes rows k*B*D + r + j*D for j in [0, B), so the ranks' rows interleave into the single-rank
// stream. The cursor always sits at the start of the next global batch, so state() is the same
// on every rank.
class PackedLoader {
 public:
  PackedLoader(TokenDataset dataset, int64_t seq_len, int64_t batch_size, uint64_t seed,
               int64_t dp_rank = 0, int64_t dp_size = 1);

  PackedBatch next();

  // The position: {format, seed, seq_len, num_documents, num_tokens, epoch, document cursor in
  // the epoch order, offset inside that document, global rows consumed}. restore() accepts the
  // state of a loader with the same dataset, seed and seq_len (batch size and data-parallel
  // layout may differ: it resumes at the same global row) and makes the following batches
  // identical to an uninterrupted run's.
  std::vector<int64_t> state() const;
  void restore(const std::vector<int64_t>& state);

  int64_t epoch() const { return epoch_; }
  int64_t rows_consumed() const { return global_rows_; }  // global rows, all ranks together
  int64_t seq_len() const { return seq_len_; }
  int64_t batch_size() const { return batch_size_; }
  // The document order of `epoch` (a permutation of [0, num_documents)).
  std::vector<int64_t> epoch_order(int64_t epoch) const;

 private:
  // Takes the next seq_len + 1 tokens of the stream; writes them (and the per-token segment and
  // position) when `tokens` is not null, else just skips them.
  // `counts` gets each token's loss mask (1 without a mask).
  void take_row(int64_t* tokens, int64_t* segments, int64_t* positions, uint8_t* counts);
  void enter_epoch(int64_t epoch);
  // Moves the cursor past empty documents and finished epochs, so that it always points at the
  // next token of the stream (epoch() then changes as soon as an epoch's last token is taken).
  void skip_to_token();

  TokenDataset data_;
  int64_t seq_len_, batch_size_;
  uint64_t seed_;
  int64_t dp_rank_, dp_size_;
  int64_t epoch_ = 0, doc_ = 0, offset_ = 0, global_rows_ = 0;
  std::vector<int64_t> order_;
};

}  // namespace xomni
