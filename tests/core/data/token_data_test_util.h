#pragma once
// What the token-data tests share (test_token_shards.cpp, test_packed_loader.cpp): a fixture with
// a fresh temporary directory, documents and masks from a fixed LCG, and batches as rows.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "xomni/core/data/token_data.h"
#include "xomni/core/io/checkpoint.h"

namespace xomni::token_test {

namespace fs = std::filesystem;

using Docs = std::vector<std::vector<int32_t>>;
using Rows = std::vector<std::vector<int64_t>>;

class TokenData : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "xomni_tokens_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string sub(const std::string& name) const { return (fs::path(dir_) / name).string(); }
  std::string dir_;
};

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}
inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

// Rewrites the bytes and crc32 the manifest of `dir` records for each shard from the files as
// they are now: a manifest consistent with edited shards, to reach the checks behind the seal.
inline void reseal(const std::string& dir) {
  const std::string manifest = (fs::path(dir) / "manifest.json").string();
  nlohmann::json m = nlohmann::json::parse(read_text(manifest));
  for (auto& s : m["shards"]) {
    const std::string bytes = read_text((fs::path(dir) / s["file"].get<std::string>()).string());
    s["bytes"] = int64_t(bytes.size());
    s["crc32"] = int64_t(crc32(bytes.data(), bytes.size()));
  }
  write_text(manifest, m.dump());
}

// Documents of lengths 1..max_len (a fixed LCG), token ids unique over the whole set when
// `unique` (id = global token index), else ids in [0, vocab).
inline Docs make_docs(int n, int max_len, uint64_t seed, bool unique, int32_t vocab = 1000) {
  Docs docs;
  uint64_t s = seed * 6364136223846793005ull + 1442695040888963407ull;
  int32_t next = 0;
  for (int d = 0; d < n; ++d) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    const int len = 1 + int((s >> 33) % uint64_t(max_len));
    std::vector<int32_t> doc;
    for (int k = 0; k < len; ++k) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      doc.push_back(unique ? next++ : int32_t((s >> 33) % uint64_t(vocab)));
    }
    docs.push_back(doc);
  }
  return docs;
}

inline std::vector<int64_t> values(const Tensor& t) {
  EXPECT_EQ(t.dtype(), DType::i64);
  return t.to_vector<int64_t>();
}

// Row b of a [B, T] i64 tensor.
inline std::vector<int64_t> row(const Tensor& t, int64_t b) {
  const std::vector<int64_t> v = t.to_vector<int64_t>();
  const int64_t T = t.size(1);
  return {v.begin() + b * T, v.begin() + (b + 1) * T};
}

// Each row of a batch as input ++ target ++ segment_ids ++ positions (what the model sees).
inline Rows batch_rows(const PackedBatch& batch) {
  Rows rows;
  for (int64_t b = 0; b < batch.input.size(0); ++b) {
    std::vector<int64_t> r;
    for (const Tensor* t : {&batch.input, &batch.target, &batch.segment_ids, &batch.positions}) {
      std::vector<int64_t> part = row(*t, b);
      r.insert(r.end(), part.begin(), part.end());
    }
    rows.push_back(r);
  }
  return rows;
}

inline Rows take_rows(PackedLoader& loader, int batches) {
  Rows rows;
  for (int i = 0; i < batches; ++i) {
    Rows r = batch_rows(loader.next());
    rows.insert(rows.end(), r.begin(), r.end());
  }
  return rows;
}

using Masks = std::vector<std::vector<uint8_t>>;

// A mask per document of `docs`: token k of document d counts iff (d + k) % 3 != 0.
inline Masks make_masks(const Docs& docs) {
  Masks masks;
  for (size_t d = 0; d < docs.size(); ++d) {
    std::vector<uint8_t> m;
    for (size_t k = 0; k < docs[d].size(); ++k) m.push_back((d + k) % 3 != 0 ? 1 : 0);
    masks.push_back(m);
  }
  return masks;
}

}  // namespace xomni::token_test
