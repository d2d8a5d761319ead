// The X-Omni commands' helpers: multimodal.json reading and its refusals, grid parsing, and the
// prompts laid out as the multimodal documents (checked against the tokenizer's own encoding of
// the whole prompt spelt out as text, special tokens allowed).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "check.h"
#include "cli_tokenizer.h"
#include "mm_model.h"
#include "mm_prompt.h"

using namespace xomni;

namespace {

class MmCliHelpers : public test::TempDirTest {
 protected:
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(sub(name)) << text;
    return sub(name);
  }
  static std::string info_json(const std::string& extra = "") {
    return R"({"format": "xomni-multimodal", "format_version": 1, "text_tokenizer": "tok.json",
      "text_vocab_size": 300, "image_vocab_size": 16, "image_tokenizer": "/abs/vq.h5",
      "decoder": "", "grids": [[2, 2], [4, 8]],
      "special_tokens": {"som": 297, "eom": 298, "image": 299, "eos": 296})" +
           extra + "}";
  }
};

TEST_F(MmCliHelpers, ReadsMultimodalJson) {
  const std::string path = write("multimodal.json", info_json(R"(, "kind": "mixture")"));
  const cli::MultimodalInfo info = cli::read_multimodal_info(path);
  EXPECT_EQ(info.text_tokenizer, dir_ + "/tok.json");  // relative to the file's folder
  EXPECT_EQ(info.image_tokenizer, "/abs/vq.h5");
  EXPECT_EQ(info.decoder, "");
  EXPECT_EQ(info.text_vocab_size, 300);
  EXPECT_EQ(info.image_vocab_size, 16);
  ASSERT_EQ(info.grids.size(), 2u);
  EXPECT_EQ(info.grids[1], (std::pair<int64_t, int64_t>{4, 8}));
  EXPECT_EQ(info.som, 297);
  EXPECT_EQ(info.eos, 296);
  EXPECT_EQ(cli::grid_list(info.grids), "2x2, 4x8");
  // Found through a folder, or through a shard file inside it.
  cli::MmModel m;
  EXPECT_EQ(cli::find_multimodal_info(m, "ckpt", dir_).som, 297);
  EXPECT_EQ(cli::find_multimodal_info(m, "ckpt", path).grids.size(), 2u);
}

TEST_F(MmCliHelpers, RefusesBadMultimodalJson) {
  auto refused = [&](const std::string& text, const std::string& want) {
    const std::string path = write("bad.json", text);
    try {
      cli::read_multimodal_info(path);
      ADD_FAILURE() << "accepted: " << text;
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(path), std::string::npos) << what;
      EXPECT_NE(what.find(want), std::string::npos) << what;
    }
  };
  refused("{", "not valid JSON");
  refused(R"({"format": "other"})", "xomni-multimodal");
  std::string v2 = info_json();
  v2.replace(v2.find("\"format_version\": 1"), 19, "\"format_version\": 2");
  refused(v2, "format_version 2 is not 1");
  std::string no_grids = info_json();
  no_grids.replace(no_grids.find("[[2, 2], [4, 8]]"), 16, "[]");
  refused(no_grids, "'grids' is empty");
  std::string no_eos = info_json();
  no_eos.replace(no_eos.find(", \"eos\": 296"), 12, "");
  refused(no_eos, "eos");
  EXPECT_THROW(cli::read_multimodal_info(sub("missing.json")), Error);
  cli::MmModel m;
  EXPECT_THROW(cli::find_multimodal_info(m, "ckpt", ""), Error);  // no [data] train to look in
}

TEST(MmCliGrid, ParsesAndRefuses) {
  EXPECT_EQ(cli::parse_grid("8x8", "--grid"), (std::pair<int64_t, int64_t>{8, 8}));
  EXPECT_EQ(cli::parse_grid("4X16", "--grid"), (std::pair<int64_t, int64_t>{4, 16}));
  for (const char* bad : {"8", "8x", "x8", "0x4", "4x-1", "8x8x", "a x b", "8.5x8", "5000x1"})
    EXPECT_THROW(cli::parse_grid(bad, "--grid"), Error) << bad;
}

TEST(MmCliGrid, NearestAspectOnALogScaleFirstOfEquals) {
  using G = std::pair<int64_t, int64_t>;
  const std::vector<G> grids = {{8, 8}, {4, 16}, {8, 16}};
  EXPECT_EQ(cli::nearest_grid(grids, 1.0), (G{8, 8}));
  EXPECT_EQ(cli::nearest_grid(grids, 4.0), (G{4, 16}));  // a 256x64 sign
  EXPECT_EQ(cli::nearest_grid(grids, 2.0), (G{8, 16}));  // a 512x256 page
  EXPECT_EQ(cli::nearest_grid(grids, 0.25), (G{8, 8}));  // tall: square is nearest
  // sqrt(2) lies as far from 1 as from 2 on a log scale: the first listed wins.
  EXPECT_EQ(cli::nearest_grid(grids, std::sqrt(2.0)), (G{8, 8}));
  EXPECT_EQ(cli::nearest_grid({{8, 16}, {8, 8}}, std::sqrt(2.0)), (G{8, 16}));
  EXPECT_EQ(cli::nearest_grid({{4, 16}}, 1.0), (G{4, 16}));  // one grid: always it
  EXPECT_THROW(cli::nearest_grid({}, 1.0), Error);
}

TEST_F(MmCliHelpers, PromptsMatchTheSpeltOutText) {
  const auto tok =
      cli::train_tokenizer({"a red cube on a blue sphere", "What colour is the cube?", "two cats"},
                           300, {"<|endoftext|>", "<SOM>", "<EOM>", "<IMAGE>"});
  cli::MultimodalInfo info;
  info.text_vocab_size = tok->vocab_size();
  info.image_vocab_size = 16;
  info.som = tok->encode("<SOM>", true)[0];
  info.eom = tok->encode("<EOM>", true)[0];
  info.image = tok->encode("<IMAGE>", true)[0];
  info.eos = tok->encode("<|endoftext|>", true)[0];
  EXPECT_EQ(cli::generation_prompt(*tok, info, "a red cube", 2, 3),
            tok->encode("a red cube<SOM>2 3<IMAGE>", true));
  EXPECT_EQ(cli::image_prefix_ids(*tok, info, 16, 16), tok->encode("<SOM>16 16<IMAGE>", true));
  // Understanding: the codes are ids V + k, then <EOM>, the question and a newline.
  const std::vector<int64_t> codes = {0, 15, 3, 7};
  std::vector<int64_t> want = tok->encode("<SOM>2 2<IMAGE>", true);
  for (int64_t k : codes) want.push_back(info.text_vocab_size + k);
  const std::vector<int64_t> rest = tok->encode("<EOM>What colour is the cube?\n", true);
  want.insert(want.end(), rest.begin(), rest.end());
  EXPECT_EQ(cli::understanding_prompt(*tok, info, 2, 2, codes, "What colour is the cube?"), want);
  EXPECT_THROW(cli::understanding_prompt(*tok, info, 2, 2, {0, 1, 2}, "q"), Error);
  EXPECT_THROW(cli::understanding_prompt(*tok, info, 2, 2, {0, 1, 2, 16}, "q"), Error);
}

}  // namespace
