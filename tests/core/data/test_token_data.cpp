// Token shards and the packed-sequence loader: HDF5 round trip and manifest, loss masks (format
// version 3) and version 2 still read, errors naming the file, packing checked against arrays
// worked out by hand, document-boundary and coverage invariants, deterministic shuffling, the
// data-parallel split and resumable positions. All comparisons are exact (integers). Every test
// runs in a fresh temporary directory.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <sstream>

#include "check.h"
#include "xomni/core/data/token_data.h"
#include "xomni/core/io/checkpoint.h"

using namespace xomni;
namespace fs = std::filesystem;
using xomni::test::error_message;

namespace {

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

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}
void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

// Rewrites the bytes and crc32 the manifest of `dir` records for each shard from the files as
// they are now: a manifest consistent with edited shards, to reach the checks behind the seal.
void reseal(const std::string& dir) {
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
Docs make_docs(int n, int max_len, uint64_t seed, bool unique, int32_t vocab = 1000) {
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

std::vector<int64_t> values(const Tensor& t) {
  EXPECT_EQ(t.dtype(), DType::i64);
  return t.to_vector<int64_t>();
}

// Row b of a [B, T] i64 tensor.
std::vector<int64_t> row(const Tensor& t, int64_t b) {
  const std::vector<int64_t> v = t.to_vector<int64_t>();
  const int64_t T = t.size(1);
  return {v.begin() + b * T, v.begin() + (b + 1) * T};
}

// Each row of a batch as input ++ target ++ segment_ids ++ positions (what the model sees).
Rows batch_rows(const PackedBatch& batch) {
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

Rows take_rows(PackedLoader& loader, int batches) {
  Rows rows;
  for (int i = 0; i < batches; ++i) {
    Rows r = batch_rows(loader.next());
    rows.insert(rows.end(), r.begin(), r.end());
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Shards

TEST_F(TokenData, ShardRoundTripManifestAndSeveralShards) {
  Docs docs = make_docs(40, 12, 1, false, 500);
  docs[7].assign(60, 3);  // longer than a shard: gets a shard of its own
  docs[8].clear();        // empty documents survive too
  const std::string dir = sub("ds");
  const std::vector<TokenShardInfo> shards = write_token_shards(dir, docs, 25, 500);

  // The partition worked out independently: close a shard before the document that would take
  // it past 25 tokens.
  std::vector<std::pair<int64_t, int64_t>> expect;  // (documents, tokens)
  int64_t nd = 0, nt = 0, total = 0;
  for (const auto& d : docs) {
    const int64_t len = int64_t(d.size());
    total += len;
    if (nd > 0 && nt + len > 25) expect.push_back({nd, nt}), nd = 0, nt = 0;
    ++nd, nt += len;
  }
  expect.push_back({nd, nt});
  ASSERT_EQ(shards.size(), expect.size());
  ASSERT_GE(shards.size(), 5u);
  for (size_t i = 0; i < shards.size(); ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "shard-%05zu.h5", i);
    EXPECT_EQ(shards[i].file, name);
    EXPECT_EQ(shards[i].num_documents, expect[i].first) << name;
    EXPECT_EQ(shards[i].num_tokens, expect[i].second) << name;
    EXPECT_TRUE(fs::is_regular_file(fs::path(dir) / name));
  }
  for (const auto& e : fs::directory_iterator(dir))
    EXPECT_NE(e.path().extension(), ".tmp") << "left behind: " << e.path();

  const std::string manifest = read_text(fs::path(dir) / "manifest.json");
  EXPECT_NE(manifest.find("\"num_documents\": 40"), std::string::npos) << manifest;
  EXPECT_NE(manifest.find("\"num_tokens\": " + std::to_string(total)), std::string::npos);
  EXPECT_NE(manifest.find("\"vocab_size\": 500"), std::string::npos);
  EXPECT_NE(manifest.find("\"shard-00004.h5\""), std::string::npos);

  const TokenDataset ds = TokenDataset::open(dir);
  EXPECT_EQ(ds.num_documents(), 40);
  EXPECT_EQ(ds.num_tokens(), total);
  EXPECT_EQ(ds.vocab_size(), 500);
  ASSERT_EQ(ds.shards().size(), shards.size());
  for (size_t i = 0; i < shards.size(); ++i) {
    EXPECT_EQ(ds.shards()[i].file, shards[i].file);
    EXPECT_EQ(ds.shards()[i].num_documents, shards[i].num_documents);
    EXPECT_EQ(ds.shards()[i].num_tokens, shards[i].num_tokens);
  }
  for (int64_t d = 0; d < 40; ++d) {
    const std::span<const int32_t> got = ds.document(d);
    EXPECT_EQ(std::vector<int32_t>(got.begin(), got.end()), docs[size_t(d)]) << "document " << d;
  }
  EXPECT_THROW(ds.document(40), Error);

  // Rewriting the folder with a smaller dataset removes the shards it no longer lists.
  write_token_shards(dir, {{1, 2, 3}}, 25, 500);
  EXPECT_FALSE(fs::exists(fs::path(dir) / "shard-00001.h5"));
  const TokenDataset small = TokenDataset::open(dir);
  EXPECT_EQ(small.num_documents(), 1);
  EXPECT_EQ(small.num_tokens(), 3);
}

TEST_F(TokenData, MissingShardIsNamed) {
  const std::string dir = sub("ds");
  write_token_shards(dir, make_docs(20, 10, 2, false), 20, 1000);
  const std::string gone = (fs::path(dir) / "shard-00001.h5").string();
  fs::remove(gone);
  const std::string msg = error_message([&] { TokenDataset::open(dir); });
  EXPECT_NE(msg.find(gone), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing"), std::string::npos) << msg;
}

TEST_F(TokenData, TokenIdAtOrAboveVocabIsNamed) {
  // The writer refuses it...
  std::string msg = error_message([&] { write_token_shards(sub("w"), {{1, 2}, {3, 50}}, 10, 50); });
  EXPECT_NE(msg.find("document 1 token 1 has id 50"), std::string::npos) << msg;
  msg = error_message([&] { write_token_shards(sub("w"), {{-1}}, 10, 50); });
  EXPECT_NE(msg.find("has id -1"), std::string::npos) << msg;

  // ...and the reader catches one patched into a shard's raw bytes (contiguous int32 storage).
  const std::string dir = sub("ds");
  write_token_shards(dir, {{5, 6}, {987654, 876543, 765432}}, 100, 1000000);
  const std::string shard = (fs::path(dir) / "shard-00000.h5").string();
  std::string bytes = read_text(shard);
  const int32_t pattern[3] = {987654, 876543, 765432};
  const size_t at = bytes.find(std::string(reinterpret_cast<const char*>(pattern), 12));
  ASSERT_NE(at, std::string::npos);
  const int32_t bad = 1000000;
  std::memcpy(&bytes[at + 4], &bad, 4);
  write_text(shard, bytes);
  // The manifest's seal catches the edit before HDF5 opens the file...
  msg = error_message([&] { TokenDataset::open(dir); });
  EXPECT_NE(msg.find(shard + " is damaged"), std::string::npos) << msg;
  // ...and with a manifest that agrees with the edited file, the id check does.
  reseal(dir);
  msg = error_message([&] { TokenDataset::open(dir); });
  EXPECT_NE(msg.find(shard), std::string::npos) << msg;
  EXPECT_NE(msg.find("token 3 (document 1 of the shard) has id 1000000, outside [0, 1000000)"),
            std::string::npos)
      << msg;
}

TEST_F(TokenData, CorruptOrMismatchedManifestIsNamed) {
  const std::string dir = sub("ds");
  write_token_shards(dir, make_docs(20, 10, 3, false), 20, 1000);
  const std::string manifest = (fs::path(dir) / "manifest.json").string();
  const std::string good = read_text(manifest);

  write_text(manifest, good.substr(0, good.size() / 2));  // truncated
  std::string msg = error_message([&] { TokenDataset::open(dir); });
  EXPECT_NE(msg.find(manifest), std::string::npos) << msg;
  EXPECT_NE(msg.find("not valid JSON"), std::string::npos) << msg;

  fs::remove(manifest);
  msg = error_message([&] { TokenDataset::open(dir); });
  EXPECT_NE(msg.find(manifest + " is missing"), std::string::npos) << msg;

  // Another dataset's manifest (same shard count, other counts) over these shards.
  const std::string other = sub("other");
  Docs docs = make_docs(20, 10, 3, false);
  docs[0].push_back(1);
  write_token_shards(other, docs, 20, 1000);
  fs::copy_file(fs::path(other) / "manifest.json", manifest);
  msg = error_message([&] { TokenDataset::open(dir); });
  EXPECT_NE(msg.find((fs::path(dir) / "shard-00000.h5").string() + " is damaged"),
            std::string::npos)
      << msg;
  reseal(dir);  // the other manifest's counts with these shards' seals
  msg = error_message([&] { TokenDataset::open(dir); });
  EXPECT_NE(msg.find((fs::path(dir) / "shard-00000.h5").string() + " holds"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("but " + manifest + " says"), std::string::npos) << msg;

  // A manifest with another vocabulary size.
  write_token_shards(other, make_docs(20, 10, 3, false), 20, 2000);
  fs::copy_file(fs::path(other) / "manifest.json", manifest, fs::copy_options::overwrite_existing);
  reseal(dir);
  msg = error_message([&] { TokenDataset::open(dir); });
  EXPECT_NE(msg.find("has vocab_size 1000 but " + manifest + " says 2000"), std::string::npos)
      << msg;

  // Totals that disagree with the shard list, and a shard that is not HDF5.
  write_text(manifest, good);
  std::string edited = good;
  const std::string key = "\"num_documents\": 20";
  ASSERT_NE(edited.find(key), std::string::npos);
  edited.replace(edited.find(key), key.size(), "\"num_documents\": 21");
  write_text(manifest, edited);
  msg = error_message([&] { TokenDataset::open(dir); });
  EXPECT_NE(msg.find(manifest + ": its shards hold 20 documents"), std::string::npos) << msg;

  write_text(manifest, good);
  const std::string shard = (fs::path(dir) / "shard-00000.h5").string();
  write_text(shard, "not an HDF5 file");
  msg = error_message([&] { TokenDataset::open(dir); });
  EXPECT_NE(msg.find(shard + " is damaged: 16 bytes"), std::string::npos) << msg;
  reseal(dir);
  msg = error_message([&] { TokenDataset::open(dir); });
  EXPECT_NE(msg.find(shard + " is unreadable"), std::string::npos) << msg;

  // A manifest written before shards carried checksums is refused, saying how to rewrite it.
  nlohmann::json old = nlohmann::json::parse(good);
  for (auto& s : old["shards"]) s.erase("crc32"), s.erase("bytes");
  write_text(manifest, old.dump());
  msg = error_message([&] { TokenDataset::open(dir); });
  EXPECT_NE(msg.find("written before token shards carried checksums"), std::string::npos) << msg;
  EXPECT_NE(msg.find("prepare-text"), std::string::npos) << msg;
}

// ---------------------------------------------------------------------------------------------
// Packing

// One document [10 .. 14], seq_len 3 (rows of 4 tokens), so the shuffle is the identity and the
// stream is 10 11 12 13 14 | 10 11 12 13 14 | ... (one epoch per document pass):
//   row 0: 10 11 12 13        seg 0 0 0 0  pos 0 1 2 3
//   row 1: 14 | 10 11 12      seg 0 1 1 1  pos 4 0 1 2
//   row 2: 13 14 | 10 11      seg 0 0 1 1  pos 3 4 0 1
//   row 3: 12 13 14 | 10      seg 0 0 0 1  pos 2 3 4 0
//   row 4: 11 12 13 14        seg 0 0 0 0  pos 1 2 3 4
// input = row[0:3], target = row[1:4] with -100 where the segment changes.
TEST(PackedLoader, HandWorkedSingleDocumentAcrossEpochs) {
  PackedLoader loader(TokenDataset::from_documents({{10, 11, 12, 13, 14}}, 20), 3, 2, 5);
  PackedBatch b0 = loader.next();
  EXPECT_EQ(b0.input.shape(), (Shape{2, 3}));
  EXPECT_EQ(values(b0.input), (std::vector<int64_t>{10, 11, 12, 14, 10, 11}));
  EXPECT_EQ(values(b0.target), (std::vector<int64_t>{11, 12, 13, -100, 11, 12}));
  EXPECT_EQ(values(b0.segment_ids), (std::vector<int64_t>{0, 0, 0, 0, 1, 1}));
  EXPECT_EQ(values(b0.positions), (std::vector<int64_t>{0, 1, 2, 4, 0, 1}));
  EXPECT_EQ(loader.epoch(), 1);  // 8 tokens taken: epoch 1 is at offset 3
  EXPECT_EQ(loader.state(), (std::vector<int64_t>{1, 5, 3, 1, 5, 1, 0, 3, 2}));
  PackedBatch b1 = loader.next();
  EXPECT_EQ(values(b1.input), (std::vector<int64_t>{13, 14, 10, 12, 13, 14}));
  EXPECT_EQ(values(b1.target), (std::vector<int64_t>{14, -100, 11, 13, 14, -100}));
  EXPECT_EQ(values(b1.segment_ids), (std::vector<int64_t>{0, 0, 1, 0, 0, 0}));
  EXPECT_EQ(values(b1.positions), (std::vector<int64_t>{3, 4, 0, 2, 3, 4}));
  PackedBatch b2 = loader.next();  // row 4, then row 5 == row 0
  EXPECT_EQ(values(b2.input), (std::vector<int64_t>{11, 12, 13, 10, 11, 12}));
  EXPECT_EQ(values(b2.target), (std::vector<int64_t>{12, 13, 14, 11, 12, 13}));
  EXPECT_EQ(values(b2.segment_ids), (std::vector<int64_t>{0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(values(b2.positions), (std::vector<int64_t>{1, 2, 3, 0, 1, 2}));
  // 24 tokens taken: epochs 0..3 complete, epoch 4 at offset 4; 6 rows.
  EXPECT_EQ(loader.state(), (std::vector<int64_t>{1, 5, 3, 1, 5, 4, 0, 4, 6}));
}

// Documents A = [1 2 3], B = [4 5], C = [6 .. 12], seq_len 4 (rows of 5), seed 7, whose epoch 0
// order is pinned below as C, A, B (a regression pin of the Philox shuffle). The stream is
// 6 7 8 9 10 11 12 | 1 2 3 | 4 5, so
//   row 0: 6 7 8 9 10          seg 0 0 0 0 0  pos 0 1 2 3 4
//   row 1: 11 12 | 1 2 3       seg 0 0 1 1 1  pos 5 6 0 1 2
// and row 2 starts with B: 4 5 | (epoch 1's first document).
TEST(PackedLoader, HandWorkedThreeDocuments) {
  const Docs docs = {{1, 2, 3}, {4, 5}, {6, 7, 8, 9, 10, 11, 12}};
  PackedLoader loader(TokenDataset::from_documents(docs, 16), 4, 2, 7);
  ASSERT_EQ(loader.epoch_order(0), (std::vector<int64_t>{2, 0, 1}));
  const std::vector<int64_t> next_order = loader.epoch_order(1);
  PackedBatch b = loader.next();
  EXPECT_EQ(values(b.input), (std::vector<int64_t>{6, 7, 8, 9, 11, 12, 1, 2}));
  EXPECT_EQ(values(b.target), (std::vector<int64_t>{7, 8, 9, 10, 12, -100, 2, 3}));
  EXPECT_EQ(values(b.segment_ids), (std::vector<int64_t>{0, 0, 0, 0, 0, 0, 1, 1}));
  EXPECT_EQ(values(b.positions), (std::vector<int64_t>{0, 1, 2, 3, 5, 6, 0, 1}));
  // Row 2: 4 5, then the first three tokens of epoch 1's first document.
  const std::vector<int32_t>& first = docs[size_t(next_order[0])];
  std::vector<int64_t> expect_row = {4, 5};
  for (size_t k = 0; k < 3 && k < first.size(); ++k) expect_row.push_back(first[k]);
  PackedBatch c = loader.next();
  EXPECT_EQ(row(c.input, 0), (std::vector<int64_t>(expect_row.begin(), expect_row.begin() + 4)));
  EXPECT_EQ(row(c.target, 0)[0], 5);
  EXPECT_EQ(row(c.target, 0)[1], -100);
  EXPECT_EQ(row(c.segment_ids, 0), (std::vector<int64_t>{0, 0, 1, 1}));
  EXPECT_EQ(row(c.positions, 0), (std::vector<int64_t>{0, 1, 0, 1}));
}

// Empty documents are skipped. Documents {10 11} and {12 13 14} (plus three empty ones) with
// seq_len 4: each row is exactly one epoch, in one of two orders worked out by hand:
//   {10 11} first: input 10 11 12 13, target 11 -100 13 14, seg 0 0 1 1, pos 0 1 0 1
//   {12 13 14} first: input 12 13 14 10, target 13 14 -100 11, seg 0 0 0 1, pos 0 1 2 0
TEST(PackedLoader, HandWorkedEmptyDocumentsAreSkipped) {
  PackedLoader loader(TokenDataset::from_documents({{}, {10, 11}, {}, {12, 13, 14}, {}}, 16), 4, 1,
                      21);
  std::set<bool> seen_orders;
  for (int64_t e = 0; e < 8; ++e) {
    const std::vector<int64_t> order = loader.epoch_order(e);
    const bool short_first =
        std::find(order.begin(), order.end(), 1) < std::find(order.begin(), order.end(), 3);
    seen_orders.insert(short_first);
    const PackedBatch b = loader.next();
    if (short_first) {
      EXPECT_EQ(values(b.input), (std::vector<int64_t>{10, 11, 12, 13})) << "epoch " << e;
      EXPECT_EQ(values(b.target), (std::vector<int64_t>{11, -100, 13, 14}));
      EXPECT_EQ(values(b.segment_ids), (std::vector<int64_t>{0, 0, 1, 1}));
      EXPECT_EQ(values(b.positions), (std::vector<int64_t>{0, 1, 0, 1}));
    } else {
      EXPECT_EQ(values(b.input), (std::vector<int64_t>{12, 13, 14, 10})) << "epoch " << e;
      EXPECT_EQ(values(b.target), (std::vector<int64_t>{13, 14, -100, 11}));
      EXPECT_EQ(values(b.segment_ids), (std::vector<int64_t>{0, 0, 0, 1}));
      EXPECT_EQ(values(b.positions), (std::vector<int64_t>{0, 1, 2, 0}));
    }
    EXPECT_EQ(loader.epoch(), e + 1);
  }
  EXPECT_EQ(seen_orders.size(), 2u) << "both orders should occur within 8 epochs";
}

// With unique token ids (id = global token index) every token maps back to (document, index).
struct TokenIndex {
  std::vector<int64_t> doc, pos;
  explicit TokenIndex(const Docs& docs) {
    for (size_t d = 0; d < docs.size(); ++d)
      for (size_t k = 0; k < docs[d].size(); ++k)
        doc.push_back(int64_t(d)), pos.push_back(int64_t(k));
  }
};

TEST(PackedLoader, NoTargetCrossesADocumentBoundary) {
  const Docs docs = make_docs(30, 15, 4, true);
  const TokenIndex idx(docs);
  PackedLoader loader(TokenDataset::from_documents(docs, 100000), 16, 3, 11);
  int64_t ignored = 0;
  for (int step = 0; step < 20; ++step) {
    const PackedBatch b = loader.next();
    const std::vector<int64_t> in = values(b.input), tg = values(b.target),
                               seg = values(b.segment_ids), pos = values(b.positions);
    for (int64_t r = 0; r < 3; ++r)
      for (int64_t t = 0; t < 16; ++t) {
        const size_t i = size_t(r * 16 + t);
        const int64_t d = idx.doc[size_t(in[i])], k = idx.pos[size_t(in[i])];
        EXPECT_EQ(pos[i], k) << "position of token " << in[i];
        const bool last_of_doc = k + 1 == int64_t(docs[size_t(d)].size());
        if (last_of_doc) {
          EXPECT_EQ(tg[i], -100) << "target after the last token of document " << d;
        } else if (tg[i] != -100) {
          EXPECT_EQ(tg[i], in[i] + 1) << "target must be the next token of document " << d;
        }
        if (tg[i] == -100) ++ignored;
        if (t + 1 < 16) {
          // Inside a row the segment id steps exactly where a new document starts at 0.
          const bool same = seg[i + 1] == seg[i];
          EXPECT_EQ(same, !last_of_doc);
          if (same) {
            EXPECT_EQ(tg[i], in[i + 1]);
          } else {
            EXPECT_EQ(seg[i + 1], seg[i] + 1);
            EXPECT_EQ(pos[i + 1], 0);
          }
        }
        if (t == 0) {
          EXPECT_EQ(seg[i], 0);
        }
      }
  }
  EXPECT_GT(ignored, 0);
}

TEST(PackedLoader, EveryTokenOfAnEpochOnceAsInputOrLastTarget) {
  // 26 documents of 1..9 tokens; seq_len 4 (rows of 5). The epoch's token count is made a
  // multiple of 5 so that epochs end at a row boundary and each epoch is a whole number of rows.
  Docs docs = make_docs(26, 9, 5, true);
  int64_t total = 0;
  for (const auto& d : docs) total += int64_t(d.size());
  while (total % 5 != 0) docs.back().push_back(int32_t(total++));
  const TokenIndex idx(docs);
  const int64_t rows_per_epoch = total / 5;
  PackedLoader loader(TokenDataset::from_documents(docs, 100000), 4, 1, 3);
  for (int epoch = 0; epoch < 3; ++epoch) {
    std::vector<int> seen(size_t(total), 0);
    int64_t hidden = 0;  // rows whose last token starts a document (its target is -100)
    for (int64_t r = 0; r < rows_per_epoch; ++r) {
      const PackedBatch b = loader.next();
      const std::vector<int64_t> in = values(b.input), tg = values(b.target);
      for (int64_t v : in) ++seen[size_t(v)];
      if (tg[3] != -100) {
        ++seen[size_t(tg[3])];
      } else {  // in[3] ends its document, so row[4] is the first token of the next one
        ++hidden;
        EXPECT_EQ(idx.pos[size_t(in[3])] + 1, int64_t(docs[size_t(idx.doc[size_t(in[3])])].size()));
      }
    }
    EXPECT_EQ(loader.epoch(), epoch + 1);
    // A missing token may only be a document's first token sitting at a row's end.
    int64_t missing = 0;
    for (int64_t v = 0; v < total; ++v) {
      EXPECT_LE(seen[size_t(v)], 1) << "token " << v << " seen twice in epoch " << epoch;
      if (seen[size_t(v)] == 0) {
        ++missing;
        EXPECT_EQ(idx.pos[size_t(v)], 0) << "token " << v << " missing in epoch " << epoch;
      }
    }
    EXPECT_EQ(missing, hidden);
  }
}

TEST(PackedLoader, ShuffleIsDeterministicPerSeedAndEpoch) {
  const TokenDataset ds = TokenDataset::from_documents(make_docs(50, 6, 6, true), 100000);
  PackedLoader a(ds, 8, 2, 42), b(ds, 8, 2, 42), c(ds, 8, 2, 43);
  const std::vector<int64_t> o0 = a.epoch_order(0), o1 = a.epoch_order(1);
  std::vector<int64_t> sorted = o0;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 50; ++i) EXPECT_EQ(sorted[size_t(i)], i) << "not a permutation";
  EXPECT_EQ(b.epoch_order(0), o0);
  EXPECT_EQ(b.epoch_order(1), o1);
  EXPECT_NE(o0, o1);
  EXPECT_NE(c.epoch_order(0), o0);
  std::vector<int64_t> identity(50);
  std::iota(identity.begin(), identity.end(), int64_t(0));
  EXPECT_NE(o0, identity);
  // The batches follow the order: the first row starts with the first document of o0.
  const Rows ra = take_rows(a, 30), rb = take_rows(b, 30), rc = take_rows(c, 30);
  EXPECT_EQ(ra, rb);
  EXPECT_NE(ra, rc);
  EXPECT_EQ(ra[0][0], int64_t(ds.document(o0[0])[0]));
  EXPECT_GE(a.epoch(), 1);  // 30 batches of 2 x 9 tokens > one epoch of at most 300 tokens
}

TEST(PackedLoader, DataParallelRanksInterleaveIntoTheSingleRankStream) {
  const TokenDataset ds = TokenDataset::from_documents(make_docs(20, 13, 7, true), 100000);
  PackedLoader single(ds, 5, 1, 9);
  const Rows global = take_rows(single, 48);
  for (const auto& [dp, batch] : std::vector<std::pair<int64_t, int64_t>>{{2, 3}, {3, 2}, {4, 1}}) {
    std::vector<Rows> per_rank;
    std::vector<std::vector<int64_t>> states;
    for (int64_t r = 0; r < dp; ++r) {
      PackedLoader loader(ds, 5, batch, 9, r, dp);
      per_rank.push_back(take_rows(loader, int(48 / (dp * batch))));
      states.push_back(loader.state());
    }
    for (size_t g = 0; g < global.size(); ++g)
      EXPECT_EQ(per_rank[g % size_t(dp)][g / size_t(dp)], global[g])
          << "global row " << g << " with dp_size " << dp;
    for (int64_t r = 1; r < dp; ++r) EXPECT_EQ(states[size_t(r)], states[0]);
    EXPECT_EQ(states[0], single.state());
  }
  EXPECT_GE(single.epoch(), 1);
}

TEST(PackedLoader, RestoreContinuesExactlyMidEpochAndAcrossEpochs) {
  const TokenDataset ds = TokenDataset::from_documents(make_docs(12, 11, 8, true), 100000);
  PackedLoader run(ds, 6, 2, 77);
  std::vector<std::vector<int64_t>> states;
  Rows stream;
  for (int i = 0; i < 24; ++i) {
    states.push_back(run.state());
    Rows r = batch_rows(run.next());
    stream.insert(stream.end(), r.begin(), r.end());
  }
  ASSERT_GE(run.epoch(), 3);  // the 24 batches cross several epoch boundaries
  int crossings = 0;
  for (size_t k = 0; k + 4 <= states.size(); ++k) {
    PackedLoader resumed(ds, 6, 2, 77);
    resumed.restore(states[k]);
    EXPECT_EQ(resumed.state(), states[k]);
    const Rows next = take_rows(resumed, 4);
    EXPECT_EQ(next, Rows(stream.begin() + 2 * k, stream.begin() + 2 * k + 8)) << "from batch " << k;
    if (states[k + 3][5] != states[k][5]) ++crossings;
    // Another batch size resumes at the same global row.
    PackedLoader single(ds, 6, 1, 77);
    single.restore(states[k]);
    EXPECT_EQ(take_rows(single, 2), Rows(stream.begin() + 2 * k, stream.begin() + 2 * k + 2));
  }
  EXPECT_GE(crossings, 2);

  PackedLoader other_seed(ds, 6, 2, 78);
  std::string msg = error_message([&] { other_seed.restore(states[3]); });
  EXPECT_NE(msg.find("seed 77"), std::string::npos) << msg;
  PackedLoader other_len(ds, 7, 2, 77);
  msg = error_message([&] { other_len.restore(states[3]); });
  EXPECT_NE(msg.find("seq_len 6"), std::string::npos) << msg;
  msg = error_message([&] { run.restore({1, 2, 3}); });
  EXPECT_NE(msg.find("not a packed-loader state"), std::string::npos) << msg;
}

TEST_F(TokenData, ManifestClaimingATrillionTokensIsRefusedWithoutAllocating) {
  const std::string dir = sub("ds");
  write_token_shards(dir, make_docs(20, 10, 3, false), 1000, 1000);
  const std::string manifest = (fs::path(dir) / "manifest.json").string();
  std::string text = read_text(manifest);
  // The totals and the one shard's entry both claim 10^12 tokens; the shard's dataset holds far
  // fewer. The reader must compare before sizing anything from the claim.
  size_t at = 0;
  int replaced = 0;
  while ((at = text.find("\"num_tokens\": ", at)) != std::string::npos) {
    const size_t begin = at + 14, end = text.find_first_not_of("0123456789", begin);
    text.replace(begin, end - begin, "1000000000000");
    at = begin;
    ++replaced;
  }
  ASSERT_EQ(replaced, 2);
  write_text(manifest, text);
  std::string msg = error_message([&] { TokenDataset::open(dir); });
  EXPECT_TRUE(test::contains(msg, (fs::path(dir) / "shard-00000.h5").string())) << msg;
  EXPECT_TRUE(test::contains(msg, "1000000000000")) << msg;
  EXPECT_FALSE(test::contains(msg, "bad_alloc")) << msg;
  // A total far beyond what the shards hold.
  text = read_text(manifest);
  const std::string one = "\"num_tokens\": 1000000000000";
  text.replace(text.find(one), one.size(), "\"num_tokens\": 4611686018427387903");
  write_text(manifest, text);
  msg = error_message([&] { TokenDataset::open(dir); });
  EXPECT_TRUE(test::contains(msg, manifest)) << msg;
}

TEST(PackedLoader, BatchTooLargeForMemoryNamesTheSettings) {
  const TokenDataset ds = TokenDataset::from_documents({{1, 2, 3}}, 4);
  for (const auto& [T, B] : {std::pair<int64_t, int64_t>{int64_t(1) << 40, 1 << 20},
                             std::pair<int64_t, int64_t>{int64_t(1) << 62, 4},
                             std::pair<int64_t, int64_t>{int64_t(1) << 30, 64},
                             std::pair<int64_t, int64_t>{std::numeric_limits<int64_t>::max(), 1}}) {
    const std::string msg = error_message([&] { PackedLoader(ds, T, B, 0); });
    EXPECT_TRUE(test::contains(msg, "train.batch_size=" + std::to_string(B))) << msg;
    EXPECT_TRUE(test::contains(msg, "train.seq_len=" + std::to_string(T))) << msg;
  }
}

TEST(PackedLoader, RejectsBadArguments) {
  const TokenDataset ds = TokenDataset::from_documents({{1, 2}}, 4);
  EXPECT_THROW(PackedLoader(ds, 0, 1, 0), Error);
  EXPECT_THROW(PackedLoader(ds, 4, 0, 0), Error);
  EXPECT_THROW(PackedLoader(ds, 4, 1, 0, 2, 2), Error);
  EXPECT_THROW(PackedLoader(TokenDataset::from_documents({{}, {}}, 4), 4, 1, 0), Error);
  EXPECT_THROW(TokenDataset::from_documents({{4}}, 4), Error);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Loss masks (format version 3)

namespace {

using Masks = std::vector<std::vector<uint8_t>>;

// A mask per document of `docs`: token k of document d counts iff (d + k) % 3 != 0.
Masks make_masks(const Docs& docs) {
  Masks masks;
  for (size_t d = 0; d < docs.size(); ++d) {
    std::vector<uint8_t> m;
    for (size_t k = 0; k < docs[d].size(); ++k) m.push_back((d + k) % 3 != 0 ? 1 : 0);
    masks.push_back(m);
  }
  return masks;
}

// Opens shard `path` read-write to edit it with the HDF5 C API (the manifest is resealed after).
struct ShardEditor {
  explicit ShardEditor(const std::string& path)
      : file(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT)) {
    EXPECT_GE(file, 0) << path;
  }
  ~ShardEditor() { H5Fclose(file); }
  void set_version(int64_t v) const {
    const hid_t a = H5Aopen(file, "format_version", H5P_DEFAULT);
    EXPECT_GE(H5Awrite(a, H5T_NATIVE_INT64, &v), 0);
    H5Aclose(a);
  }
  void write_mask(const std::vector<uint8_t>& mask) const {
    if (H5Lexists(file, "loss_mask", H5P_DEFAULT) > 0) H5Ldelete(file, "loss_mask", H5P_DEFAULT);
    const hsize_t n = mask.size();
    const hid_t space = H5Screate_simple(1, &n, nullptr);
    const hid_t d =
        H5Dcreate2(file, "loss_mask", H5T_STD_U8LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    EXPECT_GE(H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, mask.data()), 0);
    H5Dclose(d);
    H5Sclose(space);
  }
  hid_t file;
};

void edit_manifest(const std::string& dir, const std::function<void(nlohmann::json&)>& edit) {
  const std::string manifest = (fs::path(dir) / "manifest.json").string();
  nlohmann::json m = nlohmann::json::parse(read_text(manifest));
  edit(m);
  write_text(manifest, m.dump());
}

}  // namespace

TEST_F(TokenData, LossMasksRoundTripThroughSeveralShards) {
  Docs docs = make_docs(30, 9, 11, false, 300);
  docs[4].clear();
  const Masks masks = make_masks(docs);
  const std::string dir = sub("ds");
  const std::vector<TokenShardInfo> shards = write_token_shards(dir, docs, masks, 20, 300);
  ASSERT_GE(shards.size(), 3u);
  const nlohmann::json m = nlohmann::json::parse(read_text(fs::path(dir) / "manifest.json"));
  EXPECT_EQ(m["format_version"], 3);
  EXPECT_EQ(m["has_loss_mask"], true);
  const TokenDataset ds = TokenDataset::open(dir);
  ASSERT_TRUE(ds.has_loss_mask());
  ASSERT_EQ(ds.num_documents(), 30);
  for (int64_t d = 0; d < 30; ++d) {
    const std::span<const uint8_t> got = ds.document_mask(d);
    EXPECT_EQ(std::vector<uint8_t>(got.begin(), got.end()), masks[size_t(d)]) << "document " << d;
    const std::span<const int32_t> ids = ds.document(d);
    EXPECT_EQ(std::vector<int32_t>(ids.begin(), ids.end()), docs[size_t(d)]) << "document " << d;
  }
  EXPECT_THROW(ds.document_mask(30), Error);

  // Without masks: declared absent, every token counts (an empty mask), no dataset in the shard.
  write_token_shards(sub("plain"), docs, 20, 300);
  const nlohmann::json pm =
      nlohmann::json::parse(read_text(fs::path(sub("plain")) / "manifest.json"));
  EXPECT_EQ(pm["has_loss_mask"], false);
  const TokenDataset plain = TokenDataset::open(sub("plain"));
  EXPECT_FALSE(plain.has_loss_mask());
  EXPECT_TRUE(plain.document_mask(0).empty());
  ShardEditor shard((fs::path(sub("plain")) / "shard-00000.h5").string());
  EXPECT_EQ(H5Lexists(shard.file, "loss_mask", H5P_DEFAULT), 0);

  // In memory, the same masks.
  const TokenDataset mem = TokenDataset::from_documents(docs, masks, 300);
  ASSERT_TRUE(mem.has_loss_mask());
  const std::span<const uint8_t> m5 = mem.document_mask(5);
  EXPECT_EQ(std::vector<uint8_t>(m5.begin(), m5.end()), masks[5]);
}

TEST_F(TokenData, Version2DatasetStillLoadsWithEveryTokenCounting) {
  const Docs docs = {{1, 2, 3}, {4, 5}};
  const std::string dir = sub("v2");
  write_token_shards(dir, docs, 100, 10);
  // What a version-2 writer made: version 2 in the shard and the manifest, no has_loss_mask key.
  ShardEditor((fs::path(dir) / "shard-00000.h5").string()).set_version(2);
  edit_manifest(dir, [](nlohmann::json& m) {
    m["format_version"] = 2;
    m.erase("has_loss_mask");
  });
  reseal(dir);
  const TokenDataset ds = TokenDataset::open(dir);
  EXPECT_FALSE(ds.has_loss_mask());
  EXPECT_EQ(ds.num_tokens(), 5);
  PackedLoader loader(ds, 4, 1, 3);
  const std::vector<int64_t> t = values(loader.next().target);
  EXPECT_EQ(std::count(t.begin(), t.end(), -100), 1);  // only the document boundary

  // A version-2 manifest cannot declare a mask.
  edit_manifest(dir, [](nlohmann::json& m) { m["has_loss_mask"] = true; });
  const std::string msg = error_message([&] { TokenDataset::open(dir); });
  EXPECT_TRUE(test::contains(msg, "format version 2 but declares a loss mask")) << msg;
}

TEST_F(TokenData, BadOrMismatchedLossMasksAreRefused) {
  // The writer and from_documents: one mask per document, as long as it, values 0/1.
  const Docs docs = {{1, 2, 3}, {4, 5}};
  std::string msg = error_message([&] { write_token_shards(sub("w"), docs, {{1, 1, 1}}, 10, 9); });
  EXPECT_TRUE(test::contains(msg, "1 loss masks for 2 documents")) << msg;
  msg = error_message([&] { write_token_shards(sub("w"), docs, {{1, 1, 1}, {1}}, 10, 9); });
  EXPECT_TRUE(test::contains(msg, "the loss mask of document 1 has 1 values for 2 tokens")) << msg;
  msg = error_message([&] { TokenDataset::from_documents(docs, {{1, 2, 1}, {1, 1}}, 9); });
  EXPECT_TRUE(test::contains(msg, "document 0 token 1 has loss mask 2 (must be 0 or 1)")) << msg;
  EXPECT_FALSE(fs::exists(sub("w")));

  const std::string dir = sub("ds");
  const Masks masks = {{0, 1, 1}, {1, 0}};
  write_token_shards(dir, docs, masks, 100, 9);
  const std::string shard = (fs::path(dir) / "shard-00000.h5").string();
  const std::string manifest = (fs::path(dir) / "manifest.json").string();
  // A mask value other than 0/1 (behind a resealed manifest: the seal catches it first).
  ShardEditor(shard).write_mask({0, 1, 1, 7, 0});
  msg = error_message([&] { TokenDataset::open(dir); });
  EXPECT_TRUE(test::contains(msg, shard + " is damaged")) << msg;
  reseal(dir);
  msg = error_message([&] { TokenDataset::open(dir); });
  EXPECT_TRUE(test::contains(msg, shard + ": token 3 has loss mask 7 (must be 0 or 1)")) << msg;
  // A mask of another length than the tokens.
  ShardEditor(shard).write_mask({0, 1, 1, 1});
  reseal(dir);
  msg = error_message([&] { TokenDataset::open(dir); });
  EXPECT_TRUE(test::contains(
      msg, shard + " holds 4 values in dataset 'loss_mask' but " + manifest + " says 5"))
      << msg;
  // Declared but missing, present but undeclared.
  write_token_shards(dir, docs, 100, 9);
  edit_manifest(dir, [](nlohmann::json& m) { m["has_loss_mask"] = true; });
  msg = error_message([&] { TokenDataset::open(dir); });
  EXPECT_TRUE(test::contains(msg, shard + ": dataset 'loss_mask' is missing")) << msg;
  write_token_shards(dir, docs, masks, 100, 9);
  edit_manifest(dir, [](nlohmann::json& m) { m["has_loss_mask"] = false; });
  msg = error_message([&] { TokenDataset::open(dir); });
  EXPECT_TRUE(test::contains(
      msg, shard + " holds a 'loss_mask' dataset but " + manifest + " does not declare one"))
      << msg;
  edit_manifest(dir, [](nlohmann::json& m) { m["has_loss_mask"] = 1; });
  msg = error_message([&] { TokenDataset::open(dir); });
  EXPECT_TRUE(test::contains(msg, "key 'has_loss_mask' is not true or false")) << msg;
}

// The single document [10 .. 14] of HandWorkedSingleDocumentAcrossEpochs with mask 0 0 1 1 0:
// rows, segments, positions and states are as there; a target is -100 also where its token's
// mask is 0 (10, 11 and 14):
//   row 0: 10 11 12 13      targets 11 12 13 -> -100 12 13
//   row 1: 14 | 10 11 12    targets 10 11 12 -> -100 (boundary) -100 12
//   row 2: 13 14 | 10 11    targets 14 10 11 -> -100 -100 (boundary) -100
//   row 3: 12 13 14 | 10    targets 13 14 10 -> 13 -100 -100 (boundary)
TEST(PackedLoader, HandWorkedLossMask) {
  const TokenDataset plain = TokenDataset::from_documents({{10, 11, 12, 13, 14}}, 20);
  const TokenDataset masked =
      TokenDataset::from_documents({{10, 11, 12, 13, 14}}, {{0, 0, 1, 1, 0}}, 20);
  PackedLoader a(plain, 3, 2, 5), b(masked, 3, 2, 5);
  const std::vector<std::vector<int64_t>> expect = {{-100, 12, 13, -100, -100, 12},
                                                    {-100, -100, -100, 13, -100, -100}};
  for (const auto& want : expect) {
    const PackedBatch x = a.next(), y = b.next();
    EXPECT_EQ(values(y.target), want);
    EXPECT_EQ(values(y.input), values(x.input));
    EXPECT_EQ(values(y.segment_ids), values(x.segment_ids));
    EXPECT_EQ(values(y.positions), values(x.positions));
    EXPECT_EQ(b.state(), a.state());
  }
}

// With masks the ranks' rows still interleave into the single-rank stream, and a restored
// loader continues with the same masked targets.
TEST(PackedLoader, LossMaskKeepsDataParallelSplitAndResume) {
  const Docs docs = make_docs(20, 13, 7, true);
  const TokenDataset ds = TokenDataset::from_documents(docs, make_masks(docs), 100000);
  PackedLoader single(ds, 5, 1, 9);
  const Rows global = take_rows(single, 24);
  int64_t ignored = 0;
  for (const auto& r : global) ignored += std::count(r.begin() + 5, r.begin() + 10, -100);
  EXPECT_GT(ignored, 24 * 5 / 4);  // about a third of the targets are masked out
  for (int64_t r = 0; r < 3; ++r) {
    PackedLoader loader(ds, 5, 2, 9, r, 3);
    const Rows mine = take_rows(loader, 4);
    for (size_t j = 0; j < mine.size(); ++j)
      EXPECT_EQ(mine[j], global[size_t(r) + 3 * j]) << "rank " << r << " row " << j;
  }
  PackedLoader first(ds, 5, 2, 9);
  take_rows(first, 5);
  PackedLoader resumed(ds, 5, 2, 9);
  resumed.restore(first.state());
  EXPECT_EQ(take_rows(resumed, 3), Rows(global.begin() + 10, global.begin() + 16));
}
