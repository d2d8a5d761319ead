// The image-codec stages end to end at toy sizes: siglip -> vq (from the siglip checkpoint) ->
// decoder (the vq tokenizer frozen). Each resumes exactly (bitwise identical losses after an
// interruption), the components load back from checkpoints by path alone, and bad jobs are
// refused with what is wrong.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>

#include "check.h"
#include "codec/codec_components.h"
#include "codec/codec_data.h"
#include "codec/codec_stage.h"
#include "codec_toy_jobs.h"
#include "xomni/core/data/image_data.h"
#include "xomni/core/tensor/autograd.h"

using namespace xomni;
using namespace xomni::codec;
namespace fs = std::filesystem;
using namespace xomni::test;

namespace {

fs::path fresh_dir(const std::string& name) {
  fs::path d =
      fs::temp_directory_path() / ("xomni_codec_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

CodecJob parse(const std::string& text) {
  return parse_codec_job(parse_codec_config(text, "<test job>"));
}

std::vector<std::string> losses(const fs::path& run_dir) {
  return logged_losses(run_dir.string());
}

// Runs `make(name, steps)` straight and interrupted half way; the losses must be identical.
void expect_exact_resume(const fs::path& root,
                         const std::function<std::string(const std::string&)>& make, int steps) {
  const CodecJob straight = parse(make("straight"));
  EXPECT_EQ(run_codec_training(straight).steps_done, steps);
  const CodecJob split = parse(make("split"));
  EXPECT_EQ(run_codec_training(split, steps / 2).steps_done, steps / 2);
  EXPECT_EQ(run_codec_training(split).steps_done, steps);
  const std::vector<std::string> a = losses(root / "straight"), b = losses(root / "split");
  ASSERT_EQ(a.size(), size_t(steps));
  EXPECT_EQ(a, b);
}

// The job without its text-image stream.
std::string scenes_only(const std::string& job) {
  return std::regex_replace(job, std::regex("(train|valid)_text = \"[^\"]*\""), "$1_text = \"\"");
}

std::string newest_checkpoint(const fs::path& run) {
  std::string best;
  for (const auto& e : fs::directory_iterator(run / "checkpoints"))
    if (e.path().extension() == ".h5" && e.path().string() > best) best = e.path().string();
  return best;
}

class CodecStages : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new fs::path(fresh_dir("stages"));
    data_ = new std::string(make_scenes(*root_, "scenes", 1, 48));
    g_texts = make_texts(*root_, 2, 24);
  }
  static void TearDownTestSuite() {
    fs::remove_all(*root_);
    delete root_;
    delete data_;
  }
  static fs::path* root_;
  static std::string* data_;
};
fs::path* CodecStages::root_ = nullptr;
std::string* CodecStages::data_ = nullptr;

}  // namespace

TEST_F(CodecStages, ChainResumesExactlyAndLoadsBack) {
  const fs::path sig = *root_ / "siglip", vq = *root_ / "vq", dec = *root_ / "decoder";
  fs::create_directories(sig), fs::create_directories(vq), fs::create_directories(dec);
  expect_exact_resume(
      sig, [&](const std::string& n) { return siglip_job(sig, n, 6, *data_); }, 6);
  const std::string sig_ckpt = newest_checkpoint(sig / "straight");
  expect_exact_resume(
      vq, [&](const std::string& n) { return vq_job(vq, n, 6, *data_, sig_ckpt); }, 6);
  const std::string vq_ckpt = newest_checkpoint(vq / "straight");
  // Dead codes were restarted (every 2 steps, a 16-code book, batches of 4 x 4 codes), and the
  // resumed run restarted the same ones at the same steps (its losses above are identical).
  {
    std::ifstream in(vq / "straight" / "metrics.jsonl");
    const std::string text((std::istreambuf_iterator<char>(in)), {});
    EXPECT_TRUE(std::regex_search(text, std::regex("\"vq_restarted\": [1-9]"))) << text;
  }
  expect_exact_resume(
      dec, [&](const std::string& n) { return decoder_job(dec, n, 6, *data_, vq_ckpt); }, 6);

  // The vq stage froze the encoder: its vision weights are the siglip stage's.
  {
    CheckpointReader a(sig_ckpt), b(vq_ckpt);
    for (const std::string& name : a.tensor_names())
      if (name.rfind("model/tokenizer.vision.", 0) == 0) {
        const Tensor x = a.read_tensor(name), y = b.read_tensor(name);
        ASSERT_EQ(x.numel(), y.numel());
        EXPECT_EQ(0, std::memcmp(x.data<float>(), y.data<float>(), sizeof(float) * x.numel()))
            << name;
      }
  }
  // Both streams fed the batches: the loaders' positions (samples consumed, entry 3) moved.
  {
    CheckpointReader r(vq_ckpt);
    for (const char* stream : {"images", "text_images"})
      EXPECT_GT(r.data_position(stream).at(3), 0) << stream;
  }
  // Loading by path: the decoder names its tokenizer; codes decode to images of the grid.
  const LoadedDecoder d = load_decoder(newest_checkpoint(dec / "straight"), nullptr);
  EXPECT_EQ(d.tokenizer_checkpoint, vq_ckpt);
  const LoadedTokenizer t = load_tokenizer(d.tokenizer_checkpoint, nullptr);
  const ImageDataset ds = ImageDataset::open(*data_);
  ImageDataOptions fit;
  fit.image_size = 16;
  const Tensor x = images_to_tensor({ds.get(0), ds.get(1)}, fit);
  const Tensor ids = t.tokenizer->encode(x);
  EXPECT_EQ(ids.shape(), (Shape{2, 4}));
  const Tensor again = load_tokenizer(vq_ckpt, nullptr).tokenizer->encode(x);
  ASSERT_EQ(again.shape(), ids.shape());  // deterministic across loads
  const Tensor a64 = ids.to(DType::i64).contiguous(), b64 = again.to(DType::i64).contiguous();
  EXPECT_EQ(0, std::memcmp(a64.data<int64_t>(), b64.data<int64_t>(), sizeof(int64_t) * 8));
  const Tensor y = d.decoder->decode(t.tokenizer->code_embeddings(ids), 2, 2, 5);
  EXPECT_EQ(y.shape(), (Shape{2, 3, 16, 16}));
  // A checkpoint of the wrong stage is refused with what it is.
  EXPECT_THROW(
      {
        try {
          load_decoder(vq_ckpt, nullptr);
        } catch (const Error& e) {
          EXPECT_TRUE(contains(e.what(), "a checkpoint of the vq stage")) << e.what();
          throw;
        }
      },
      Error);
}

TEST_F(CodecStages, BadJobsAreRefusedWithWhatIsWrong) {
  auto message = [&](const std::string& text) -> std::string {
    try {
      const CodecJob job = parse(text);
      run_codec_training(job, 1);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_TRUE(contains(message(common(*root_, "nope", "x", 2, *data_)),
                       "run.stage = \"nope\" is not a codec stage"));
  EXPECT_TRUE(contains(message(common(*root_, "decoder", "x", 2, *data_)),
                       "tokenizer.checkpoint is not set"));
  std::string small_vocab = vq_job(*root_, "x", 2, *data_, "");
  small_vocab = std::regex_replace(small_vocab, std::regex("vocab_size = 258"), "vocab_size = 200");
  EXPECT_TRUE(contains(message(small_vocab), "lm.vocab_size = 200 is smaller than the 258"));
  std::string wide = vq_job(*root_, "x", 2, *data_, "");
  wide = std::regex_replace(wide, std::regex("out_dim = 32"), "out_dim = 24");
  EXPECT_TRUE(contains(message(wide), "the adapter's output width 24 is not the LM's hidden size"))
      << message(wide);
  std::string random_vit = vq_job(*root_, "x", 2, *data_, "");
  random_vit =
      std::regex_replace(random_vit, std::regex("train_encoder = true"), "train_encoder = false");
  EXPECT_TRUE(contains(message(random_vit), "would stay at its random initialisation"))
      << message(random_vit);
  // A vq job whose tower differs from the siglip checkpoint's in a setting that is no parameter.
  run_codec_training(parse(siglip_job(*root_, "sig1", 1, *data_)));
  const std::string sig1 = newest_checkpoint(*root_ / "sig1");
  std::string other_tower =
      std::regex_replace(vq_job(*root_, "x", 2, *data_, sig1), std::regex("codebook_size = 16\n"),
                         "codebook_size = 16\nposition_scale = 0.5\n");
  EXPECT_TRUE(contains(message(other_tower), "position_scale = 0.5 here, 1.0 in the checkpoint"))
      << message(other_tower);
  // Its loss weights may differ.
  const std::string other_weights =
      std::regex_replace(vq_job(*root_, "x", 1, *data_, sig1), std::regex("codebook_size = 16\n"),
                         "codebook_size = 16\ncommitment_weight = 0.5\n");
  EXPECT_EQ(message(other_weights), "");
  std::string unknown = siglip_job(*root_, "x", 2, *data_) + "no_such_key = 1\n";
  EXPECT_TRUE(contains(message(unknown), "no_such_key")) << message(unknown);
}

// siglip.caption = "longest" trains exactly as the default ("any") does on a copy of the data
// whose samples keep only their longest caption (the draw then has one choice).
TEST_F(CodecStages, SiglipLongestCaptionIsTheDrawFromTheLongestAlone) {
  const std::string only_longest = (*root_ / "scenes-longest").string();
  {
    const ImageDataset ds = ImageDataset::open(*data_);
    ImageShardWriter w(only_longest, 16);
    for (int64_t i = 0; i < ds.size(); ++i) {
      ImageSample s = ds.get(i);
      ASSERT_GT(s.captions.size(), 1u);
      s.captions = {longest_caption(s.captions)};
      w.add(s);
    }
    w.finish();
  }
  const std::string longest =
      scenes_only(siglip_job(*root_, "longest", 3, *data_)) + "[siglip]\ncaption = \"longest\"\n";
  const std::string copied = scenes_only(siglip_job(*root_, "copied", 3, only_longest));
  const std::string any = scenes_only(siglip_job(*root_, "any", 3, *data_));
  for (const std::string& job : {longest, copied, any}) run_codec_training(parse(job));
  EXPECT_EQ(losses(*root_ / "longest"), losses(*root_ / "copied"));
  EXPECT_NE(losses(*root_ / "longest"), losses(*root_ / "any"));
  const std::string bad = siglip_job(*root_, "x", 2, *data_) + "[siglip]\ncaption = \"short\"\n";
  EXPECT_THROW(
      {
        try {
          parse(bad);
        } catch (const Error& e) {
          EXPECT_TRUE(contains(e.what(),
                               "siglip.caption must be \"any\" or \"longest\", got "
                               "\"short\""))
              << e.what();
          throw;
        }
      },
      Error);
}

// vq.pixel_weight: a linear head reads each code and is asked for its patch's pixels. Its loss is
// logged (the first step's against the pixels' mean square), its weights travel in the checkpoint
// (a resumed run is exact), and without the key there is no head.
TEST_F(CodecStages, VqPixelHeadTrainsResumesAndIsSaved) {
  const fs::path dir = *root_ / "vq-pixel";
  fs::create_directories(dir);
  auto with_pixels = [&](const std::string& n, int steps) {
    return std::regex_replace(scenes_only(vq_job(dir, n, steps, *data_, "")),
                              std::regex("\\[vq\\]\n"), "[vq]\npixel_weight = 2.0\n");
  };
  expect_exact_resume(
      dir, [&](const std::string& n) { return with_pixels(n, 6); }, 6);

  std::vector<double> mse;
  {
    std::ifstream in(dir / "straight" / "metrics.jsonl");
    const std::regex field("\"vq_pixel_mse\": ([-+0-9.eE]+)");
    for (std::string line; std::getline(in, line);) {
      std::smatch m;
      if (std::regex_search(line, m, field)) mse.push_back(std::stod(m[1]));
    }
  }
  ASSERT_EQ(mse.size(), 6u);
  // A fresh head reads about zero from every code (weights N(0, 0.02^2), no bias, unit codes), so
  // the first step's loss is the mean square of its two micro-batches' pixels in [-1, 1], read off
  // the images themselves.
  {
    const CodecJob job = parse(with_pixels("straight", 6));
    const train::ParallelSetup par = train::setup_parallel(job.trainer.parallel, job.lm_dims, "");
    CodecData data(job, par);
    double mean_square = 0;
    for (int m = 0; m < 2; ++m) {
      const Tensor x = images_to_tensor(data.next_train().samples, job.data).contiguous();
      double sum = 0;
      for (int64_t i = 0; i < x.numel(); ++i) {
        const double v = 2.0 * x.data<float>()[i] - 1.0;
        sum += v * v;
      }
      mean_square += sum / double(x.numel()) / 2;
    }
    EXPECT_NEAR(mse.front(), mean_square, 0.01);
  }
  CheckpointReader with(newest_checkpoint(dir / "straight"));
  const Tensor weight = with.read_tensor("model/pixel_head.weight");
  EXPECT_EQ(weight.shape(), (Shape{3 * 8 * 8, 8}));  // 3 p^2 pixels from code_dim 8
  // It trained: its bias starts at zero.
  const Tensor bias = with.read_tensor("model/pixel_head.bias").contiguous();
  double moved = 0;
  for (int64_t i = 0; i < bias.numel(); ++i) moved += std::abs(bias.data<float>()[i]);
  EXPECT_GT(moved, 0.01 * double(bias.numel()));
  run_codec_training(parse(vq_job(dir, "none", 1, *data_, "")));
  CheckpointReader without(newest_checkpoint(dir / "none"));
  for (const std::string& name : without.tensor_names())
    EXPECT_EQ(name.find("pixel_head"), std::string::npos) << name;
}
