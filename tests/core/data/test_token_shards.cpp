// Token shards: HDF5 round trip and manifest, loss masks (format version 3) and version 2 still
// read, and errors naming the file for every kind of damage. All comparisons are exact (integers).
// Every test runs in a fresh temporary directory.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "check.h"
#include "token_data_test_util.h"
#include "xomni/core/data/token_data.h"
#include "xomni/core/io/checkpoint.h"

using namespace xomni;
using namespace xomni::token_test;
namespace fs = std::filesystem;
using xomni::test::error_message;

namespace {

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

// ---------------------------------------------------------------------------------------------
// Loss masks (format version 3)

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

}  // namespace
