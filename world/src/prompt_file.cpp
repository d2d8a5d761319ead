// Prompt JSONL files (format in prompt_file.h).
#include "xomni/world/prompt_file.h"

#include <nlohmann/json.hpp>

#include "xomni/core/io/jsonl.h"
#include "xomni/core/tensor/error.h"

namespace xomni::world {
namespace {

std::string string_key(const nlohmann::json& j, const char* key, const std::string& where) {
  XOMNI_CHECK(j.contains(key) && j[key].is_string(), where, ": needs a string \"", key, "\"");
  return j[key].get<std::string>();
}

}  // namespace

Prompt parse_prompt_line(std::string_view line, const std::string& where) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    throw Error(where + ": not valid JSON: " + e.what());
  }
  XOMNI_CHECK(j.is_object(), where, ": not a JSON object");
  for (const auto& [key, value] : j.items())
    XOMNI_CHECK(
        key == "set" || key == "task" || key == "category" || key == "prompt" || key == "metadata",
        where, ": unknown key \"", key,
        "\" (a prompt has \"set\", \"task\", \"category\", \"prompt\", \"metadata\")");
  Prompt p;
  if (j.contains("set")) p.set = string_key(j, "set", where);
  p.task = string_key(j, "task", where);
  XOMNI_CHECK(p.task == "scene" || p.task == "text" || p.task == "vqa", where, ": \"task\" '",
              p.task, "' is not one of scene, text, vqa");
  p.category = string_key(j, "category", where);
  p.text = string_key(j, "prompt", where);
  XOMNI_CHECK(!p.text.empty(), where, ": \"prompt\" is empty");
  XOMNI_CHECK(j.contains("metadata") && j["metadata"].is_object(), where,
              ": needs an object \"metadata\"");
  const nlohmann::json& meta = j["metadata"];
  if (p.task == "vqa") {
    XOMNI_CHECK(meta.contains("answer") && meta["answer"].is_string(), where,
                ": a vqa prompt's metadata needs a string \"answer\"");
    XOMNI_CHECK(meta.contains("image") && meta["image"].is_object(), where,
                ": a vqa prompt's metadata needs an object \"image\"");
  }
  p.metadata_json = meta.dump();
  return p;
}

std::vector<Prompt> read_prompt_file(const std::string& path) {
  std::vector<Prompt> prompts;
  for_each_jsonl_line(path, "prompt", [&](const std::string& line, int64_t line_no) {
    prompts.push_back(parse_prompt_line(line, path + " line " + std::to_string(line_no)));
  });
  return prompts;
}

}  // namespace xomni::world
