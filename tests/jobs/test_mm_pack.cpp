// `xomni data mm-pack` as a library call on a toy vq tokenizer (one training step, random-ish
// codes) and a mix of 32x32 scenes and wide text images resized to a short edge of 16 (2x2 and
// 2x8 grids): every document is checked against the tokenizer's encoding of the sequence spelt
// out as text and the image tokenizer's own codes of that image encoded alone; the masks, the
// shard vocabulary, multimodal.json, the seeded caption draw and independence of the batch size.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "check.h"
#include "cli_tokenizer.h"
#include "codec/codec_components.h"
#include "codec/codec_data.h"
#include "codec/codec_stage.h"
#include "codec_toy_jobs.h"
#include "mm/mm_corpus.h"
#include "mm/mm_documents.h"
#include "mm/mm_pack.h"
#include "xomni/core/data/token_data.h"
#include "xomni/core/io/image_io.h"
#include "xomni/core/tensor/autograd.h"

using namespace xomni;
namespace fs = std::filesystem;

namespace {

class MmPack : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ =
        new fs::path(fs::temp_directory_path() / ("xomni_mm_pack_" + std::to_string(::getpid())));
    fs::remove_all(*root_);
    fs::create_directories(*root_);
    scenes_ = new std::string(test::make_scenes(*root_, "scenes", 1, 6));
    test::g_texts = test::make_texts(*root_, 2, 3);
    // Scenes without questions: they get a captioning document.
    noqa_ = new std::string((*root_ / "noqa").string());
    {
      ImageShardWriter w(*noqa_, 8);
      world::SceneOptions so;
      so.size = 32;
      for (int i = 0; i < 2; ++i) {
        ImageSample smp = world::generate_scene(9, i, so);
        smp.qa.clear();
        w.add(smp);
      }
      w.finish();
    }
    codec::run_codec_training(codec::parse_codec_job(codec::parse_codec_config(
        test::vq_job(*root_, "vq", 1, *scenes_, ""), "<mm test vq job>")));
    for (const auto& e : fs::directory_iterator(*root_ / "vq" / "checkpoints"))
      if (e.path().extension() == ".h5") vq_ = new std::string(e.path().string());
    // The shared text tokenizer, learnt as `xomni data mm-tokenizer` learns it.
    const auto tok = cli::train_tokenizer(mm::image_dataset_texts({*scenes_, test::g_texts}), 400,
                                          {mm::kEndOfText, mm::kSom, mm::kEom, mm::kImage});
    tokenizer_ = new std::string((*root_ / "tokenizer.json").string());
    tok->save(*tokenizer_);
  }
  static void TearDownTestSuite() {
    fs::remove_all(*root_);
    delete root_, delete scenes_, delete vq_, delete tokenizer_, delete noqa_;
  }
  mm::MmPackOptions options(const std::string& kind) const {
    mm::MmPackOptions o;
    o.tokenizer = *tokenizer_;
    o.image_tokenizer = *vq_;
    o.images = {*scenes_, test::g_texts, *noqa_};
    o.kind = kind;
    o.seed = 5;
    o.short_edge = 16;
    o.tokens_per_shard = 200;  // several shards
    return o;
  }
  static std::string out(const std::string& name) {
    const fs::path d = *root_ / name;
    fs::remove_all(d);
    fs::create_directories(d);
    return d.string();
  }
  static fs::path* root_;
  static std::string *scenes_, *vq_, *tokenizer_, *noqa_;
};
fs::path* MmPack::root_ = nullptr;
std::string *MmPack::scenes_ = nullptr, *MmPack::vq_ = nullptr, *MmPack::tokenizer_ = nullptr,
            *MmPack::noqa_ = nullptr;

std::vector<int32_t> ids_of(const std::vector<int64_t>& v) {
  return {v.begin(), v.end()};
}

// What the image tokenizer gives image `img` resized to a short edge of 16, encoded alone.
std::vector<int64_t> codes_alone(const plugins::ImageTokenizer& tok, const Image& img) {
  ImageSample s;
  s.image = fit_image(img, 16, 0);
  codec::ImageDataOptions keep;
  keep.image_size = std::min(s.image.width, s.image.height);
  keep.max_image_size = std::max(s.image.width, s.image.height);
  NoGradGuard no_grad;
  return tok.encode(codec::images_to_tensor({s}, keep)).to(DType::i64).to_vector<int64_t>();
}

struct Expected {
  std::vector<std::vector<int32_t>> ids;
  std::vector<std::vector<uint8_t>> masks;
  void add(std::vector<int32_t> prefix, std::vector<int32_t> supervised) {
    masks.push_back(std::vector<uint8_t>(prefix.size(), 0));
    masks.back().insert(masks.back().end(), supervised.size(), 1);
    prefix.insert(prefix.end(), supervised.begin(), supervised.end());
    ids.push_back(prefix);
  }
};

}  // namespace

TEST_F(MmPack, MixtureDocumentsMasksAndManifest) {
  const std::string dir = out("mixture");
  const mm::MmPackSummary s = mm::mm_pack(options("mixture"), dir);

  // The expectation, image by image, from the tokenizers alone.
  const auto tok = cli::load_tokenizer(*tokenizer_);
  const codec::LoadedTokenizer vq = codec::load_tokenizer(*vq_, nullptr);
  const int64_t V = tok->vocab_size(), K = vq.tokenizer->codebook_size();
  ASSERT_EQ(K, 16);
  const auto enc = [&](const std::string& t, bool special) {
    return ids_of(tok->encode(t, special));
  };
  const int32_t eom = int32_t(V - 2), eos = int32_t(V - 4);
  Expected want;
  int64_t index = 0, captioning = 0, generation = 0;
  std::map<std::pair<int64_t, int64_t>, int64_t> grids;
  for (const std::string& ds_dir : {*scenes_, test::g_texts, *noqa_}) {
    const ImageDataset ds = ImageDataset::open(ds_dir);
    for (int64_t i = 0; i < ds.size(); ++i, ++index) {
      const ImageSample smp = ds.get(i);
      const Image fitted = fit_image(smp.image, 16, 0);
      const int64_t h = fitted.height / 8, w = fitted.width / 8;
      ++grids[{h, w}];
      const std::string head = "<SOM>" + std::to_string(h) + " " + std::to_string(w) + "<IMAGE>";
      std::vector<int32_t> codes;
      for (int64_t c : codes_alone(*vq.tokenizer, smp.image)) codes.push_back(int32_t(V + c));
      ASSERT_EQ(int64_t(codes.size()), h * w);
      std::vector<int32_t> image = enc(head, true);
      image.insert(image.end(), codes.begin(), codes.end());
      image.push_back(eom);
      ASSERT_FALSE(smp.captions.empty());
      const std::string gen_caption =
          smp.captions[size_t(mm::draw_caption(5, index, 0, int64_t(smp.captions.size())))];
      std::vector<int32_t> sup = codes;
      sup.push_back(eom);
      want.add(enc(gen_caption + head, true), sup);
      ++generation;
      const auto understanding = [&](const std::string& q, const std::string& a) {
        std::vector<int32_t> prefix = image, question = enc(q + "\n", false),
                             answer = enc(a, false);
        prefix.insert(prefix.end(), question.begin(), question.end());
        answer.push_back(eos);
        want.add(prefix, answer);
      };
      for (const auto& [q, a] : smp.qa) understanding(q, a);
      if (smp.qa.empty()) {
        understanding(
            "Describe the image.",
            smp.captions[size_t(mm::draw_caption(5, index, 1, int64_t(smp.captions.size())))]);
        ++captioning;
      }
    }
  }
  EXPECT_EQ(captioning, 2);  // the scenes without questions

  const TokenDataset got = TokenDataset::open(dir);
  ASSERT_TRUE(got.has_loss_mask());
  EXPECT_EQ(got.vocab_size(), V + K);
  EXPECT_GE(got.shards().size(), 2u);
  ASSERT_EQ(got.num_documents(), int64_t(want.ids.size()));
  int64_t tokens = 0, supervised = 0;
  for (int64_t d = 0; d < got.num_documents(); ++d) {
    const auto ids = got.document(d);
    const auto m = got.document_mask(d);
    EXPECT_EQ(std::vector<int32_t>(ids.begin(), ids.end()), want.ids[size_t(d)])
        << "document " << d;
    EXPECT_EQ(std::vector<uint8_t>(m.begin(), m.end()), want.masks[size_t(d)]) << "document " << d;
    tokens += int64_t(ids.size());
    for (uint8_t x : m) supervised += x;
  }
  EXPECT_EQ(s.images, index);
  EXPECT_EQ(s.generation, generation);
  EXPECT_EQ(s.understanding, int64_t(want.ids.size()) - generation);
  EXPECT_EQ(s.tokens, tokens);
  EXPECT_EQ(s.supervised, supervised);
  EXPECT_EQ(s.grids, grids);
  ASSERT_EQ(grids.size(), 2u);  // scenes 2x2 and text images 2x8 mixed

  std::ifstream f(fs::path(dir) / "multimodal.json");
  const nlohmann::json mj = nlohmann::json::parse(f);
  EXPECT_EQ(mj["format"], "xomni-multimodal");
  EXPECT_EQ(mj["format_version"], 1);
  EXPECT_EQ(mj["text_tokenizer"], "tokenizer.json");
  EXPECT_EQ(mj["text_vocab_size"], V);
  EXPECT_EQ(mj["image_vocab_size"], K);
  EXPECT_EQ(mj["image_tokenizer"], fs::absolute(*vq_).lexically_normal().string());
  EXPECT_EQ(mj["decoder"], "");
  EXPECT_EQ(mj["grids"], nlohmann::json::parse("[[2, 2], [2, 8]]"));
  EXPECT_EQ(mj["special_tokens"],
            nlohmann::json({{"som", V - 3}, {"eom", V - 2}, {"image", V - 1}, {"eos", V - 4}}));
  // The copy of the tokenizer encodes as the original.
  const auto copy = cli::load_tokenizer((fs::path(dir) / "tokenizer.json").string());
  EXPECT_EQ(copy->encode("two red circles<SOM>", true), tok->encode("two red circles<SOM>", true));
}

// questions_per_document packs an image's questions into multi-turn documents: fewer documents
// and tokens (the image is not repeated), and exactly the same supervised answers.
TEST_F(MmPack, QuestionsPerDocumentKeepsEveryAnswerAndRepeatsTheImageLess) {
  const mm::MmPackSummary single = mm::mm_pack(options("understanding"), out("turns1"));
  mm::MmPackOptions o = options("understanding");
  o.questions_per_document = 3;
  const mm::MmPackSummary multi = mm::mm_pack(o, out("turns3"));
  int64_t want_documents = 0;
  for (const std::string& ds_dir : {*scenes_, test::g_texts, *noqa_}) {
    const ImageDataset ds = ImageDataset::open(ds_dir);
    for (int64_t i = 0; i < ds.size(); ++i) {
      const int64_t q = int64_t(ds.get(i).qa.size());
      want_documents += q == 0 ? 1 : (q + 2) / 3;
    }
  }
  EXPECT_EQ(multi.understanding, want_documents);
  EXPECT_LT(multi.understanding, single.understanding);
  EXPECT_EQ(multi.supervised, single.supervised);
  EXPECT_LT(multi.tokens, single.tokens);
}

TEST_F(MmPack, BatchSizeDoesNotChangeTheShardsAndTheSeedDrawsCaptions) {
  mm::MmPackOptions o = options("generation");
  const auto pack = [&](const std::string& name) {
    const std::string dir = out(name);
    mm::mm_pack(o, dir);
    return TokenDataset::open(dir);
  };
  o.batch = 1;
  const TokenDataset one = pack("b1");
  o.batch = 16;
  const TokenDataset many = pack("b16");
  ASSERT_EQ(one.num_documents(), many.num_documents());
  EXPECT_EQ(one.num_documents(), 11);  // one generation document per image
  for (int64_t d = 0; d < one.num_documents(); ++d) {
    const auto a = one.document(d), b = many.document(d);
    EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end())) << "document " << d;
  }
  // Another seed draws other captions for some image (the codes stay).
  o.seed = 6;
  const TokenDataset other = pack("s6");
  int differ = 0;
  for (int64_t d = 0; d < one.num_documents(); ++d) {
    const auto a = one.document(d), b = other.document(d);
    differ += !std::equal(a.begin(), a.end(), b.begin(), b.end());
  }
  EXPECT_GT(differ, 0);
}

TEST_F(MmPack, TextKindCountsEveryTokenOfCaptionsAnswersAndFiles) {
  const std::string file = (*root_ / "extra.txt").string();
  std::ofstream(file) << "first paragraph\nstill first\n\n\nsecond one\n";
  mm::MmPackOptions o = options("text");
  o.image_tokenizer.clear();
  o.images = {test::g_texts};
  o.text_files = {file};
  const std::string dir = out("text");
  const mm::MmPackSummary s = mm::mm_pack(o, dir);
  const auto tok = cli::load_tokenizer(*tokenizer_);
  const int64_t V = tok->vocab_size();
  std::vector<std::string> texts;
  const ImageDataset ds = ImageDataset::open(test::g_texts);
  for (int64_t i = 0; i < ds.size(); ++i) {
    const ImageSample smp = ds.get(i);
    for (const auto& c : smp.captions) texts.push_back(c);
    for (const auto& [q, a] : smp.qa) texts.push_back(q + "\n" + a);
  }
  texts.push_back("first paragraph\nstill first");
  texts.push_back("second one");
  const TokenDataset got = TokenDataset::open(dir);
  EXPECT_EQ(got.vocab_size(), V);  // text ids only
  ASSERT_EQ(got.num_documents(), int64_t(texts.size()));
  EXPECT_EQ(s.text, int64_t(texts.size()));
  for (size_t d = 0; d < texts.size(); ++d) {
    std::vector<int32_t> want = ids_of(tok->encode(texts[d] + "<|endoftext|>", true));
    const auto ids = got.document(int64_t(d));
    const auto m = got.document_mask(int64_t(d));
    EXPECT_EQ(std::vector<int32_t>(ids.begin(), ids.end()), want) << texts[d];
    EXPECT_EQ(std::count(m.begin(), m.end(), 1), int64_t(want.size())) << texts[d];
  }
  EXPECT_EQ(s.supervised, s.tokens);
}

TEST_F(MmPack, BadInputsAreRefused) {
  mm::MmPackOptions o = options("mixture");
  o.image_tokenizer.clear();
  std::string msg = test::error_message([&] { mm::mm_pack(o, out("bad")); });
  EXPECT_TRUE(test::contains(msg, "--image-tokenizer CHECKPOINT is required for --kind mixture"))
      << msg;
  o = options("pictures");
  msg = test::error_message([&] { mm::mm_pack(o, out("bad")); });
  EXPECT_TRUE(test::contains(msg, "--kind 'pictures' is not one of")) << msg;
  o = options("mixture");
  o.short_edge = 12;  // 12 is not a multiple of the 8-pixel patch
  msg = test::error_message([&] { mm::mm_pack(o, out("bad")); });
  EXPECT_TRUE(test::contains(msg, "sample 0: the image is 12x12")) << msg;
  EXPECT_TRUE(test::contains(msg, "patch 8 does not tile it")) << msg;
  // A tokenizer without the multimodal special tokens.
  const std::string plain = (*root_ / "plain.json").string();
  cli::train_tokenizer({"a red circle"}, 270, {mm::kEndOfText})->save(plain);
  o = options("generation");
  o.tokenizer = plain;
  msg = test::error_message([&] { mm::mm_pack(o, out("bad")); });
  EXPECT_TRUE(test::contains(msg, "has no special token <SOM>, <EOM>, <IMAGE>")) << msg;
}
