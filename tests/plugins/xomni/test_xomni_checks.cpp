// The xomni backbone's refusals (bad configs, tp that does not divide a vocabulary, pipeline
// splits through the vision layers, text/image-mode logits under tp > 1, bad targets, mis-shaped
// weights, prefix embeddings), init_source's mapping from a Qwen2 text LM's parameters, and
// `xomni convert` of the fixture folders (f32 single file, bf16 sharded) into a checkpoint that
// loads into the model.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "check.h"
#include "xomni/core/io/checkpoint.h"
#include "xomni/core/io/safetensors.h"
#include "xomni/xomni_model/model.h"

using namespace xomni;
using test::contains;
using test::error_message;
using XConfig = xomni_model::Config;
using xomni_model::XOmniForCausalLM;

namespace {
const std::string kDir = std::string(XOMNI_FIXTURE_DIR) + "/xomni_tiny";

nlohmann::json fixture_config() {
  std::ifstream in(kDir + "/config.json");
  return nlohmann::json::parse(in);
}

std::string config_error(const std::string& key, const nlohmann::json& value) {
  nlohmann::json j = fixture_config();
  if (value.is_null())
    j.erase(key);
  else
    j[key] = value;
  return error_message([&] { XConfig::from_json_text(j.dump(), "cfg.json"); });
}

// A tensor-parallel group of `size` ranks seen from rank 0 that never communicates: enough for
// the checks a model makes before its first collective.
class SilentGroup : public parallel::Communicator {
 public:
  explicit SilentGroup(int size) : Communicator("tp", 0, size, std::vector<int>(size, 0), {}) {}
  void all_reduce_raw(void*, int64_t, DType, parallel::ReduceOp) override { fail(); }
  void reduce_scatter_raw(const void*, void*, int64_t, DType, parallel::ReduceOp) override {
    fail();
  }
  void all_gather_raw(const void*, void*, int64_t, DType) override { fail(); }
  void broadcast_raw(void*, int64_t, DType, int) override { fail(); }
  void send_raw(const void*, int64_t, DType, int, int) override { fail(); }
  void recv_raw(void*, int64_t, DType, int, int) override { fail(); }
  void barrier_raw() override { fail(); }

 private:
  [[noreturn]] static void fail() { throw Error("SilentGroup: no communication in this test"); }
};
}  // namespace

TEST(XOmniChecks, BadConfigsAreRefusedNamingTheField) {
  EXPECT_NO_THROW(XConfig::from_json_text(fixture_config().dump(), "cfg.json"));
  struct Case {
    const char* key;
    nlohmann::json value;
    const char* says;
  };
  const Case cases[] = {
      {"model_type", "qwen2", "x-omni"},
      {"num_mm_adap_layers", 6, "exceeds num_hidden_layers"},
      {"num_mm_head_layers", -1, "num_mm_head_layers"},
      {"num_mm_adap_layers", 1.5, "num_mm_adap_layers"},
      {"image_vocab_size", 49, "image_vocab_size"},
      {"mm_vocab_size", nullptr, "mm_vocab_size"},
      {"tie_word_embeddings", true, "tie_word_embeddings"},
      {"mm_special_tokens", nlohmann::json::array({"<SOM>"}), "mm_special_tokens"},
      {"hidden_size", 30, "num_attention_heads"},
  };
  for (const Case& c : cases) {
    const std::string m = config_error(c.key, c.value);
    EXPECT_TRUE(contains(m, "cfg.json")) << c.key << ": " << m;
    EXPECT_TRUE(contains(m, c.says)) << c.key << ": " << m;
  }
}

TEST(XOmniChecks, TensorParallelSizeMustDivideBothVocabularies) {
  const XConfig cfg = XConfig::from_json_file(kDir + "/config.json");  // V=64, mm=48, I=32
  SilentGroup five(5);
  std::string m = error_message([&] {
    XOmniForCausalLM(cfg, 1, {{&five, false}, nullptr, 0, -1});
  });
  EXPECT_TRUE(contains(m, "vocab_size=64")) << m;
  XConfig odd_mm = cfg;
  odd_mm.mm_vocab_size = 50;
  SilentGroup four(4);
  m = error_message([&] { XOmniForCausalLM(odd_mm, 1, {{&four, false}, nullptr, 0, -1}); });
  EXPECT_TRUE(contains(m, "mm_vocab_size=50")) << m;
  // Full rows need every column on one rank.
  SilentGroup two(2);
  XOmniForCausalLM lm(cfg, 1, {{&two, false}, nullptr, 0, -1});
  plugins::BackboneInputs in;
  in.mode = plugins::LogitMode::text;
  m = error_message([&] { lm.logits(Tensor::from_vector<int64_t>({1, 2}, {1, 2}), in); });
  EXPECT_TRUE(contains(m, "tp=1")) << m;
}

TEST(XOmniChecks, PipelineStagesKeepTheVisionLayersOnTheFirstAndLastStage) {
  XConfig cfg = XConfig::from_json_file(kDir + "/config.json");  // 6 layers
  cfg.num_mm_adap_layers = 2;
  cfg.num_mm_head_layers = 2;  // vision layers 0, 1 and 4, 5
  for (auto [first, last] : {std::pair<int64_t, int64_t>{0, 1}, {1, 3}, {5, -1}, {2, 5}}) {
    const std::string m = error_message([&] {
      XOmniForCausalLM(cfg, 1, {{}, nullptr, first, last});
    });
    EXPECT_TRUE(contains(m, "parallel.pp_layers")) << first << ".." << last << ": " << m;
  }
  for (auto [first, last] : {std::pair<int64_t, int64_t>{0, 2}, {2, 4}, {4, -1}, {0, 3}, {3, -1}})
    EXPECT_NO_THROW(XOmniForCausalLM(cfg, 1, {{}, nullptr, first, last})) << first << ".." << last;
}

TEST(XOmniChecks, WeightProblemsAreListed) {
  TensorMap w = load_safetensors_any(kDir);
  w.erase("model.mm_norm.weight");
  w["mm_head.weight"] = Tensor::zeros({40, 16});
  w["model.embed_tokens.weight"] = Tensor::zeros({64, 16});
  XOmniForCausalLM lm(XConfig::from_json_file(kDir + "/config.json"), 1);
  const std::string m = error_message([&] { lm.load_weights(w); });
  EXPECT_TRUE(contains(m, "xomni: weights do not match")) << m;
  EXPECT_TRUE(contains(m, "missing (1)") && contains(m, "model.mm_norm.weight")) << m;
  EXPECT_TRUE(contains(m, "mis-shaped (1)") && contains(m, "[40, 16]")) << m;
  EXPECT_TRUE(contains(m, "unexpected (1)") && contains(m, "model.embed_tokens.weight")) << m;
  // torch_dtype float32 in the config: bf16 tensors are refused.
  TensorMap bf16 = load_safetensors_any(kDir + "/bf16_sharded");
  const std::string d = error_message([&] { lm.load_weights(bf16); });
  EXPECT_TRUE(contains(d, "wrong dtype (78)")) << d;
}

TEST(XOmniChecks, BadInputsAndTargetsAreRefused) {
  XOmniForCausalLM lm(XConfig::from_json_file(kDir + "/config.json"), 1);
  plugins::BackboneInputs in;
  std::string m = error_message([&] {
    lm.logits(Tensor::from_vector<int64_t>({1, 64 + 48}, {1, 2}), in);
  });
  EXPECT_TRUE(contains(m, "token id 112")) << m;
  in.prefix_embeddings = Tensor::zeros({1, 1, 16});
  m = error_message([&] { lm.logits(Tensor::from_vector<int64_t>({1, 2}, {1, 2}), in); });
  EXPECT_TRUE(contains(m, "prefix_embeddings")) << m;
  const Tensor logits = Tensor::zeros({1, 2, 64 + 48});
  m = error_message([&] {
    lm.token_nll(logits, Tensor::from_vector<int64_t>({3, 64 + 40}, {1, 2}));
  });
  EXPECT_TRUE(contains(m, "target 104")) << m;  // an mm_head row that is not an image code
  m = error_message([&] {
    lm.token_nll(Tensor::zeros({1, 2, 64}), Tensor::from_vector<int64_t>({3, 4}, {1, 2}));
  });
  EXPECT_TRUE(contains(m, "LogitMode::training")) << m;
  // Ignored and closed: -100 gives 0, and an all-equal row gives log(64) or log(40).
  const std::vector<double> nll =
      lm.token_nll(logits, Tensor::from_vector<int64_t>({-100, 64 + 39}, {1, 2}))
          .to_vector<double>();
  EXPECT_EQ(nll[0], 0.0);
  EXPECT_NEAR(nll[1], std::log(40.0), 1e-5);
}

// Starting from a Qwen2 text LM (the lm0 stage): language layer i takes the source's layer
// i - num_mm_adap_layers, the text embedding/norm/head their Qwen2 names (a tied source's head
// is its embedding), everything visual keeps its initialisation.
TEST(XOmniChecks, InitSourceMapsAQwen2TextModel) {
  const XOmniForCausalLM lm(XConfig::from_json_file(kDir + "/config.json"), 1);  // 1 adap, 1 head
  std::set<std::string> qwen2 = {"model.embed_tokens.weight", "model.norm.weight"};
  for (int i = 0; i < 4; ++i) {
    qwen2.insert("model.layers." + std::to_string(i) + ".self_attn.q_proj.weight");
    qwen2.insert("model.layers." + std::to_string(i) + ".mlp.down_proj.weight");
  }
  EXPECT_EQ(lm.init_source("model.lm_embed_tokens.weight", qwen2), "model.embed_tokens.weight");
  EXPECT_EQ(lm.init_source("model.lm_norm.weight", qwen2), "model.norm.weight");
  EXPECT_EQ(lm.init_source("lm_head.weight", qwen2), "model.embed_tokens.weight");  // tied
  EXPECT_EQ(lm.init_source("model.layers.1.self_attn.q_proj.weight", qwen2),
            "model.layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(lm.init_source("model.layers.4.mlp.down_proj.weight", qwen2),
            "model.layers.3.mlp.down_proj.weight");
  for (const char* keep :
       {"model.layers.0.self_attn.q_proj.weight", "model.layers.5.mlp.down_proj.weight",
        "model.mm_embed_tokens.weight", "model.mm_norm.weight", "mm_head.weight",
        "model.layers.2.self_attn.k_proj.weight"})
    EXPECT_EQ(lm.init_source(keep, qwen2), "") << keep;
  qwen2.insert("lm_head.weight");
  EXPECT_EQ(lm.init_source("lm_head.weight", qwen2), "lm_head.weight");
  // Every parameter maps to a name in the source or to "".
  for (const auto& [name, p] : lm.named_parameters()) {
    const std::string s = lm.init_source(name, qwen2);
    EXPECT_TRUE(s.empty() || qwen2.count(s)) << name << " -> " << s;
  }
  // An X-Omni source: the same names.
  const std::set<std::string> same = {"model.lm_embed_tokens.weight", "mm_head.weight"};
  EXPECT_EQ(lm.init_source("mm_head.weight", same), "mm_head.weight");
  EXPECT_EQ(lm.init_source("lm_head.weight", same), "");
}

// `xomni convert` of both fixture folders: the checkpoint's tensors (under model/) load into
// the model and give the reference logits; a config that does not validate is refused.
TEST(XOmniChecks, ConvertedCheckpointsLoad) {
  const std::string tmp = std::filesystem::temp_directory_path().string() + "/xomni_convert_test_" +
                          std::to_string(getpid());
  const test::Fixture fx = test::load_fixture("xomni_tiny");
  for (const std::string& folder : {kDir, kDir + "/bf16_sharded"}) {
    const std::string out = tmp + "/" + std::filesystem::path(folder).filename().string();
    const std::string cmd =
        std::string(XOMNI_CLI) + " convert --from " + folder + " --to " + out + " > /dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    CheckpointReader r(out + "/ckpt-00000000.h5");
    const XConfig cfg = XConfig::from_json_text(r.metadata("hf_config_json"), "checkpoint");
    TensorMap w;
    for (const std::string& name : r.tensor_names()) w.emplace(name.substr(6), r.read_tensor(name));
    XOmniForCausalLM lm(cfg, 3);
    lm.load_weights(w);
    // The same model as one loaded from the folder itself.
    XOmniForCausalLM direct(XConfig::from_json_file(folder + "/config.json"), 4);
    direct.load_weights(load_safetensors_any(folder));
    NoGradGuard no_grad;
    plugins::BackboneInputs in;
    in.mode = plugins::LogitMode::image;
    const Tensor logits = lm.logits(fx.at("ids"), in);
    test::expect_close(logits, direct.logits(fx.at("ids"), in), 0.0, "logits after convert");
    if (cfg.base.torch_dtype == "float32")
      test::expect_close(slice(logits, 2, 64, 64 + 40), fx.at("image_logits"), 1e-4,
                         "image logits after convert");
  }
  // A folder whose x-omni config does not validate.
  const std::string bad = tmp + "/bad";
  std::filesystem::create_directories(bad);
  std::filesystem::copy_file(kDir + "/model.safetensors", bad + "/model.safetensors");
  nlohmann::json j = fixture_config();
  j["num_mm_head_layers"] = 9;
  std::ofstream(bad + "/config.json") << j.dump();
  const std::string cmd = std::string(XOMNI_CLI) + " convert --from " + bad + " --to " + tmp +
                          "/bad_out > " + tmp + "/bad.log 2>&1";
  EXPECT_NE(std::system(cmd.c_str()), 0);
  std::ifstream log(tmp + "/bad.log");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(contains(text, "num_mm_head_layers")) << text;
  EXPECT_FALSE(std::filesystem::exists(tmp + "/bad_out/ckpt-00000000.h5"));
  std::filesystem::remove_all(tmp);
}
