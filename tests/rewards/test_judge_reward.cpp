// The judge reward through its C ABI, on a tiny X-Omni checkpoint built here from its pieces: a BPE
// text tokenizer, a randomly initialised siglip_vq tokenizer saved as a vq-stage checkpoint, an
// X-Omni backbone saved as an LM training checkpoint whose [data] train folder holds the
// multimodal.json. Every weight is perturbed and the answer rows of lm_head scaled up, so that
// P(yes) and P(no) move with the image and the question. Checked: P(yes) and P(no) equal the
// softmax of the model's own text logits for the prompt spelt out by hand (tokenizer text with
// special tokens, codes from the image tokenizer, one Backbone::logits call per row), yes_share
// follows from them, a batch scores as its samples one at a time, and bad configs fail with
// messages naming what is wrong.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "check.h"
#include "cli_tokenizer.h"
#include "codec/codec_components.h"
#include "codec/codec_data.h"
#include "lm/lm_components.h"
#include "lm/lm_job.h"
#include "xomni/core/io/checkpoint.h"
#include "xomni/core/io/image_io.h"
#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"
#include "xomni/plugins/reward_plugin.h"
#include "xomni/world/scene.h"

using namespace xomni;

namespace {

namespace fs = std::filesystem;

const int64_t kCodes = 16;  // the vq tokenizer's codebook = the model's image vocabulary

struct TinyJudge {
  std::string root, checkpoint, qwen2_checkpoint, vq_checkpoint, multimodal;
  int64_t text_vocab = 0;
};

// An LM training checkpoint of `model_section` (a [model] table) with data in `data_dir`,
// initialised from the job's seed; `edit` may change the weights before they are written.
std::string write_lm_checkpoint(const std::string& root, const std::string& name,
                                const std::string& model_section, const std::string& data_dir,
                                const std::function<void(const std::string&, Tensor&)>& edit) {
  const std::string text = "[run]\nname = \"" + name + "\"\ndir = \"" + root +
                           "/runs\"\nseed = 5\n" + model_section + "[data]\ntrain = \"" + data_dir +
                           "\"\n[train]\nsteps = 1\nbatch_size = 1\nseq_len = 32\n";
  const train::LmJob job = train::parse_lm_job(train::parse_lm_config(text, name + ".toml"));
  auto lm = train::make_backbone(job.model, job.trainer.run.seed);
  NoGradGuard no_grad;
  CheckpointWriter w(root + "/runs/" + name + "/checkpoints", 1);
  for (auto& [pname, t] : lm->named_parameters()) {
    Tensor p = t;
    if (edit) edit(pname, p);
    w.write_tensor("model/" + pname, p);
  }
  w.set_config(text);
  return w.commit();
}

const TinyJudge& tiny() {
  static const TinyJudge made = [] {
    TinyJudge t;
    t.root = (fs::temp_directory_path() / ("xomni_judge_" + std::to_string(::getpid()))).string();
    fs::create_directories(t.root + "/data");
    // Text tokenizer: "yes" and "no" come out as single tokens.
    std::vector<std::string> docs;
    for (int i = 0; i < 40; ++i)
      docs.push_back(
          "Is there a red circle?\nyes no yes no 2 2 a blue square and a green triangle");
    const auto tok =
        cli::train_tokenizer(docs, 300, {"<|endoftext|>", "<SOM>", "<EOM>", "<IMAGE>"});
    tok->save(t.root + "/data/tokenizer.json");
    t.text_vocab = tok->vocab_size();

    // The image tokenizer: a vq-stage checkpoint of a fresh siglip_vq (2x2 grid of 8-pixel
    // patches, 16 codes).
    const std::string vq_text =
        "[run]\nstage = \"vq\"\nname = \"vq\"\ndir = \"" + t.root +
        "/runs\"\nseed = 3\n[data]\ntrain = \"" + t.root + "/data\"\nvalid = \"" + t.root +
        "/data\"\nimage_size = 16\n[train]\nsteps = 1\nbatch_size = 2\n"
        "[tokenizer]\nplugin = \"siglip_vq\"\npatch_size = 8\nvision_width = 32\n"
        "vision_layers = 1\nvision_heads = 2\nembed_dim = 16\ncode_dim = 8\ncodebook_size = 16\n"
        "text_width = 32\ntext_layers = 1\ntext_heads = 2\ntext_max_len = 48\ncheckpoint = \"\"\n"
        "[adapter]\nin_dim = 8\nout_dim = 32\nhidden = 32\n[lm]\nvocab_size = 258\n"
        "hidden_size = 32\nintermediate_size = 64\nnum_hidden_layers = 1\n"
        "num_attention_heads = 2\nnum_key_value_heads = 2\nmax_position_embeddings = 256\n"
        "[vq]\nmax_text_tokens = 64\ntrain_encoder = true\n";
    const codec::CodecJob vq = codec::parse_codec_job(codec::parse_codec_config(vq_text, "vq"));
    const auto image_tok = codec::make_tokenizer(vq.tokenizer, vq.trainer.run.seed, nullptr);
    {
      CheckpointWriter w(t.root + "/runs/vq/checkpoints", 1);
      for (const nn::ParamInfo& p : image_tok->parameter_infos())
        w.write_tensor("model/tokenizer." + p.name, p.tensor);
      w.set_config(vq_text);
      t.vq_checkpoint = w.commit();
    }

    const int64_t V = t.text_vocab;
    const int64_t yes = tok->encode("yes", false).at(0), no = tok->encode("no", false).at(0);
    const auto special = [&](const char* s) { return tok->encode(s, true).at(0); };
    t.multimodal = t.root + "/data/multimodal.json";
    std::ofstream(t.multimodal)
        << R"({"format": "xomni-multimodal", "format_version": 1, "text_tokenizer": "tokenizer.json",
      "text_vocab_size": )"
        << V << R"(, "image_vocab_size": )" << kCodes << R"(, "image_tokenizer": ")"
        << t.vq_checkpoint << R"(", "decoder": "", "grids": [[2, 2]],
      "special_tokens": {"som": )"
        << special("<SOM>") << R"(, "eom": )" << special("<EOM>") << R"(, "image": )"
        << special("<IMAGE>") << R"(, "eos": )" << special("<|endoftext|>") << "}}";

    // Three layers: the image-only blocks before and after, one shared LLM layer between.
    const std::string xomni_model =
        "[model]\nbackbone = \"xomni\"\nvocab_size = " + std::to_string(V) +
        "\nhidden_size = 16\nintermediate_size = 32\nnum_hidden_layers = 3\n"
        "num_attention_heads = 4\nnum_key_value_heads = 2\nmax_position_embeddings = 64\n"
        "tie_word_embeddings = false\nnum_mm_adap_layers = 1\nnum_mm_head_layers = 1\n"
        "image_vocab_size = 16\nmm_vocab_size = 16\n";
    // Larger answer rows: their logits then swing with the image by several nats.
    t.checkpoint = write_lm_checkpoint(
        t.root, "xomni", xomni_model, t.root + "/data", [&](const std::string& name, Tensor& w) {
          // The initialisation zeroes residual-branch outputs, so every position would see only
          // its own token; a deterministic perturbation of every weight makes the last position
          // read the image and the question.
          w = w.contiguous().clone();
          float* d = w.data<float>();
          // Image-code embeddings get more, so that the image moves the answer.
          const float amplitude = name == "model.mm_embed_tokens.weight" ? 2.0f : 0.5f;
          std::mt19937 bits(uint32_t(std::hash<std::string>{}(name)));
          for (int64_t j = 0; j < w.numel(); ++j)
            d[j] += amplitude * (float(bits()) / 4294967296.0f * 2 - 1);
          if (name != "lm_head.weight") return;
          const int64_t hidden = w.size(1);
          for (int64_t row : {yes, no})
            for (int64_t j = 0; j < hidden; ++j) d[row * hidden + j] *= 3.0f;
        });
    t.qwen2_checkpoint = write_lm_checkpoint(
        t.root, "qwen2",
        "[model]\nbackbone = \"qwen2\"\nvocab_size = " + std::to_string(V) +
            "\nhidden_size = 16\nintermediate_size = 32\nnum_hidden_layers = 1\n"
            "num_attention_heads = 2\nnum_key_value_heads = 2\nmax_position_embeddings = 64\n",
        t.root + "/data", nullptr);
    return t;
  }();
  return made;
}

class JudgeReward : public ::testing::Test {
 protected:
  static void TearDownTestSuite() { fs::remove_all(tiny().root); }

  static std::string config(const std::string& extra = "") {
    return "checkpoint = \"" + tiny().checkpoint + "\"\n" + extra;
  }
  static plugins::RewardScores score(const plugins::Reward& r, const std::vector<Image>& images,
                                     const std::vector<std::string>& prompts) {
    std::vector<XomniImage> views;
    for (const Image& im : images)
      views.push_back({im.rgb.data(), int32_t(im.width), int32_t(im.height), im.width * 3});
    return r.score(views, prompts, std::vector<std::string>(images.size(), "{}"));
  }
  static std::vector<Image> scenes(int n) {
    std::vector<Image> out;
    world::SceneOptions o;
    o.size = 32;
    for (int i = 0; i < n; ++i) out.push_back(world::generate_scene(11, i, o).image);
    out.push_back(Image(40, 24, 200, 30, 30));  // another size and aspect: stretched to the grid
    out.push_back(Image(16, 16, 10, 10, 240));
    Image checker(32, 32);
    for (int64_t y = 0; y < 32; ++y)
      for (int64_t x = 0; x < 32; ++x) {
        const uint8_t v = ((x / 8 + y / 4) % 2) ? 255 : 0;
        checker.at(x, y)[0] = v, checker.at(x, y)[1] = uint8_t(8 * y), checker.at(x, y)[2] = 0;
      }
    out.push_back(checker);
    return out;
  }
};

// The reference: the prompt spelt out as text with special tokens, the image codes from the vq
// tokenizer on the image stretched to 16x16, one row through Backbone::logits, softmax over the
// whole text-mode row.
std::pair<double, double> reference_yes_no(const Image& image, const std::string& question) {
  const TinyJudge& t = tiny();
  const auto tok = cli::load_tokenizer(t.root + "/data/tokenizer.json");
  const auto image_tok = codec::load_tokenizer(t.vq_checkpoint, nullptr);
  const auto lm = train::load_checkpoint_model(t.checkpoint);
  NoGradGuard no_grad;
  const Tensor pixels = codec::image_to_tensor(resize_image(image, 16, 16));
  const std::vector<int64_t> codes = image_tok.tokenizer->encode(pixels).to_vector<int64_t>();
  EXPECT_EQ(codes.size(), 4u);
  std::vector<int64_t> ids = tok->encode("<SOM>2 2<IMAGE>", true);
  for (int64_t k : codes) ids.push_back(t.text_vocab + k);
  const std::vector<int64_t> rest = tok->encode("<EOM>" + question + "\n", true);
  ids.insert(ids.end(), rest.begin(), rest.end());
  plugins::BackboneInputs in;
  in.mode = plugins::LogitMode::text;
  const int64_t T = int64_t(ids.size());
  const Tensor logits = lm->logits(Tensor::from_vector(ids, {1, T}), in).contiguous();
  const int64_t width = logits.size(2);
  const float* last = logits.data<float>() + (T - 1) * width;
  double mx = -INFINITY, sum = 0;
  for (int64_t j = 0; j < width; ++j) mx = std::max(mx, double(last[j]));
  for (int64_t j = 0; j < width; ++j) sum += std::exp(double(last[j]) - mx);
  const int64_t yes = tok->encode("yes", false).at(0), no = tok->encode("no", false).at(0);
  return {std::exp(double(last[yes]) - mx) / sum, std::exp(double(last[no]) - mx) / sum};
}

TEST_F(JudgeReward, MatchesTheSoftmaxOfTheHandBuiltPrompt) {
  const plugins::Reward reward(plugins::RewardPlugin::load("judge"), config());
  EXPECT_EQ(reward.plugin().name(), "judge");
  const std::vector<Image> images = scenes(3);
  // The lead-in "a photo of " is dropped: the question is "Is there a red circle?".
  const std::vector<std::string> prompts = {
      "a photo of a red circle", "a red circle", "a blue square and a green triangle",
      "a photo of a red circle", "a red circle", "A picture showing two blue squares"};
  const std::vector<std::string> questions = {"Is there a red circle?",
                                              "Is there a red circle?",
                                              "Is there a blue square and a green triangle?",
                                              "Is there a red circle?",
                                              "Is there a red circle?",
                                              "Is there two blue squares?"};
  const plugins::RewardScores s = score(reward, images, prompts);
  ASSERT_EQ(s.sub_score_names, (std::vector<std::string>{"p_yes", "p_no", "yes_share"}));
  double lo = 1, hi = 0;
  for (size_t i = 0; i < images.size(); ++i) {
    const auto [p_yes, p_no] = reference_yes_no(images[i], questions[i]);
    const float* sub = s.sub_scores.data() + 3 * i;
    EXPECT_NEAR(s.scores[i], p_yes, 1e-5 + 1e-4 * p_yes) << "sample " << i;
    EXPECT_FLOAT_EQ(sub[0], s.scores[i]);
    EXPECT_NEAR(sub[1], p_no, 1e-5 + 1e-4 * p_no) << "sample " << i;
    EXPECT_NEAR(sub[2], p_yes / (p_yes + p_no), 1e-4) << "sample " << i;
    for (int k = 0; k < 3; ++k) EXPECT_TRUE(sub[k] >= 0 && sub[k] <= 1) << sub[k];
    EXPECT_LE(sub[0] + sub[1], 1.0f + 1e-6f);
    lo = std::min(lo, double(sub[2])), hi = std::max(hi, double(sub[2]));
  }
  // The scores move with the question and with the image (samples 0 and 3 ask the same question
  // of different codes), so the checks above see the image path.
  EXPECT_GT(hi - lo, 1e-2);
  EXPECT_GT(std::abs(std::log(s.scores[0] / s.scores[3])), 0.1);
}

TEST_F(JudgeReward, BatchScoresAsOneAtATime) {
  const plugins::Reward batched(plugins::RewardPlugin::load("judge"), config("batch = 8\n"));
  const plugins::Reward single(plugins::RewardPlugin::load("judge"), config("batch = 1\n"));
  const std::vector<Image> images = scenes(5);
  // Equal-length prompts share forward passes; the odd one runs alone.
  std::vector<std::string> prompts(images.size(), "a red circle");
  prompts[2] = "two blue squares and a green triangle";
  const plugins::RewardScores all = score(batched, images, prompts);
  for (size_t i = 0; i < images.size(); ++i) {
    const plugins::RewardScores one = score(single, {images[i]}, {prompts[i]});
    EXPECT_NEAR(all.scores[i], one.scores[0], 1e-6 + 1e-5 * one.scores[0]) << "sample " << i;
    for (int k = 0; k < 3; ++k)
      EXPECT_NEAR(all.sub_scores[3 * i + k], one.sub_scores[k], 1e-5) << "sample " << i;
  }
}

TEST_F(JudgeReward, QuestionTemplateAndAnswerWords) {
  // Swapping the answer words swaps P(yes) and P(no); a custom template without lead-in stripping
  // asks exactly what it says.
  const plugins::Reward plain(plugins::RewardPlugin::load("judge"), config());
  const plugins::Reward swapped(plugins::RewardPlugin::load("judge"),
                                config("yes = no\nno = 'yes'\n"));
  const plugins::Reward templ(
      plugins::RewardPlugin::load("judge"),
      config("question = \"Is there {prompt}? yes\"\nstrip_lead_in = false\n"));
  const std::vector<Image> images = scenes(1);
  const auto a = score(plain, {images[0]}, {"a red circle"});
  const auto b = score(swapped, {images[0]}, {"a red circle"});
  EXPECT_FLOAT_EQ(a.sub_scores[0], b.sub_scores[1]);
  EXPECT_FLOAT_EQ(a.sub_scores[1], b.sub_scores[0]);
  // A word of several tokens is read by its first: "yes no" scores as "yes".
  const plugins::Reward first(plugins::RewardPlugin::load("judge"), config("yes = \"yes no\"\n"));
  EXPECT_EQ(score(first, {images[0]}, {"a red circle"}).scores, a.scores);
  const auto c = score(templ, {images[0]}, {"a photo of a red circle"});
  const auto [p_yes, p_no] = reference_yes_no(images[0], "Is there a photo of a red circle? yes");
  EXPECT_NEAR(c.scores[0], p_yes, 1e-5 + 1e-4 * p_yes);
  EXPECT_NEAR(c.sub_scores[1], p_no, 1e-5 + 1e-4 * p_no);
}

TEST_F(JudgeReward, DefaultsToTheCheckpointsDataAndTakesAnExplicitMultimodal) {
  const std::vector<Image> images = scenes(1);
  const plugins::Reward by_data(plugins::RewardPlugin::load("judge"), config());
  const plugins::Reward explicit_(plugins::RewardPlugin::load("judge"),
                                  config("multimodal = \"" + tiny().multimodal + "\"\n"));
  const std::vector<std::string> prompts(images.size(), "a green triangle");
  EXPECT_EQ(score(by_data, images, prompts).scores, score(explicit_, images, prompts).scores);
}

TEST_F(JudgeReward, BadConfigsSayWhatIsWrong) {
  const auto refused = [](const std::string& cfg) {
    return test::error_message([&] { plugins::Reward(plugins::RewardPlugin::load("judge"), cfg); });
  };
  EXPECT_TRUE(test::contains(refused(""), "names no checkpoint"));
  EXPECT_TRUE(test::contains(refused("checkpoint = /no/such/ckpt.h5"), "/no/such/ckpt.h5"));
  std::string e = refused("checkpoint = \"" + tiny().qwen2_checkpoint + "\"");
  EXPECT_TRUE(test::contains(e, "not an X-Omni one")) << e;
  e = refused("checkpoint = \"" + tiny().vq_checkpoint + "\"");
  EXPECT_TRUE(test::contains(e, "cannot load the model")) << e;
  e = refused(config("yes = \"yesterday circles\"\nsingle_token = true\n"));
  EXPECT_TRUE(test::contains(e, "yesterday circles")) << e;
  EXPECT_TRUE(test::contains(e, "not one")) << e;
  e = refused(config("no = \"yes no\"\n"));  // first tokens alike
  EXPECT_TRUE(test::contains(e, "start with the same token")) << e;
  e = refused(config("no = yes\n"));
  EXPECT_TRUE(test::contains(e, "both \"yes\"")) << e;
  e = refused(config("question = \"Is it?\"\n"));
  EXPECT_TRUE(test::contains(e, "{prompt}")) << e;
  e = refused(config("colour = red\n"));
  EXPECT_TRUE(test::contains(e, "unknown config key 'colour'")) << e;
  e = refused(config("batch = 0\n"));
  EXPECT_TRUE(test::contains(e, "batch")) << e;
  e = refused(config("multimodal = \"" + tiny().root + "/nothing\"\n"));
  EXPECT_TRUE(test::contains(e, "multimodal.json")) << e;
}

}  // namespace
