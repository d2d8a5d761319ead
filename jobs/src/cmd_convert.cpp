// xomni convert: Hugging Face safetensors weights (file or folder, sharded or not) into an
// xomni HDF5 checkpoint (step 0), tensors under "model/<hf name>" in their stored dtype.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli.h"
#include "xomni/core/io/checkpoint.h"
#include "xomni/core/io/safetensors.h"
#include "xomni/plugins/component_registry.h"

namespace xomni::cli {
namespace {

// An X-Omni folder is built by the xomni backbone plugin from its config and given the weights,
// so a config that does not validate or weights that do not fit it are refused before anything
// is written. (This holds the model once more in memory, in f32.)
void check_xomni(const std::string& config_text, const std::string& where,
                 const TensorMap& weights) {
  plugins::ComponentContext ctx;
  ctx.config_json = config_text;
  ctx.where = where;
  const std::unique_ptr<plugins::Backbone> model = plugins::create_backbone("xomni", ctx);
  model->load_weights(weights);
}

int run(const std::vector<std::string>& argv) {
  std::vector<std::string> args = argv;
  const std::string from = take_option(args, "--from");
  const std::string to = take_option(args, "--to");
  XOMNI_CHECK(args.empty(), "unexpected argument '", args.empty() ? "" : args[0], "'");
  XOMNI_CHECK(!from.empty() && !to.empty(), "both --from and --to are required");
  // The folder's config.json travels with the weights (xomni generate --checkpoint builds the
  // model from it), so it is checked here, before anything is written, not at generation time.
  std::string config_text, model_type;
  const std::filesystem::path config = std::filesystem::path(from) / "config.json";
  if (std::filesystem::is_directory(from) && std::filesystem::exists(config)) {
    std::ifstream in(config, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    XOMNI_CHECK(in && !in.bad(), "cannot read ", config.string());
    config_text = ss.str();
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(config_text);
    } catch (const nlohmann::json::exception& e) {
      throw Error(config.string() + ": malformed JSON: " + e.what());
    }
    XOMNI_CHECK(j.is_object(), config.string(), ": a model config is a JSON object, got ",
                j.type_name());
    if (j.contains("model_type") && j["model_type"].is_string())
      model_type = j["model_type"].get<std::string>();
  }
  const TensorMap weights = load_safetensors_any(from);
  if (model_type == "x-omni") check_xomni(config_text, config.string(), weights);
  std::filesystem::create_directories(to);
  CheckpointWriter writer(to, 0);
  for (const auto& [name, t] : weights) writer.write_tensor("model/" + name, t);
  writer.set_metadata("source", from);
  if (!config_text.empty()) writer.set_metadata("hf_config_json", config_text);
  const std::string path = writer.commit();
  std::printf("wrote %zu tensors to %s\n", weights.size(), path.c_str());
  return 0;
}

const Register reg(
    {"convert", "Hugging Face safetensors -> xomni HDF5 checkpoint",
     "usage: xomni convert --from PATH --to DIR\n\n"
     "PATH is a .safetensors file or a folder with model.safetensors or a sharded\n"
     "model.safetensors.index.json. Writes DIR/ckpt-00000000.h5 with every tensor as\n"
     "model/<name> in its stored dtype, and the folder's config.json as metadata.\n"
     "A folder whose config.json has model_type \"x-omni\" is first checked by building the\n"
     "xomni backbone from it and loading the weights (load the result with\n"
     "xomni generate --checkpoint DIR/ckpt-00000000.h5 --backbone xomni).",
     run});

}  // namespace
}  // namespace xomni::cli
