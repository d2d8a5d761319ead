#include "common/plugin_options.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "xomni/plugins/component_registry.h"

namespace xomni::jobs {

std::vector<FieldSpec> plugin_section_fields(const std::string& kind, const std::string& plugin,
                                             const std::string& section) {
  std::vector<FieldSpec> fields = plugins::component_settings_fields(kind, plugin);
  for (FieldSpec& f : fields) f.key = section + "." + f.key;
  return fields;
}

std::string plugin_settings_json(const Config& c, const std::string& kind,
                                 const std::string& plugin, const std::string& section) {
  nlohmann::json j = nlohmann::json::object();
  for (const FieldSpec& f : plugins::component_settings_fields(kind, plugin)) {
    const std::string key = section + "." + f.key;
    switch (f.type) {
      case FieldType::integer:
        j[f.key] = c.get_int(key);
        break;
      case FieldType::floating:
        j[f.key] = c.get_float(key);
        break;
      case FieldType::boolean:
        j[f.key] = c.get_bool(key);
        break;
      case FieldType::string:
        j[f.key] = c.get_string(key);
        break;
      case FieldType::string_list:
        j[f.key] = c.get_strings(key);
        break;
      case FieldType::table:
        j[f.key] = c.get_table(key);
        break;
    }
  }
  return j.dump();
}

parallel::ModelDims backbone_dims(const std::string& settings_json, const std::string& where) {
  const nlohmann::json j = nlohmann::json::parse(settings_json);
  parallel::ModelDims d;
  auto read = [&](const char* key, int64_t& out) {
    XOMNI_CHECK(j.contains(key) && j[key].is_number_integer(), where, ": the backbone declares no ",
                key, " (every backbone's settings need it)");
    out = j[key].get<int64_t>();
  };
  read("num_attention_heads", d.num_attention_heads);
  read("num_key_value_heads", d.num_key_value_heads);
  read("vocab_size", d.vocab_size);
  read("intermediate_size", d.intermediate_size);
  read("num_hidden_layers", d.num_hidden_layers);
  return d;
}

std::string peek_plugin(const std::string& text, const std::string& source, const std::string& key,
                        const std::vector<std::string>& overrides, const std::string& fallback,
                        const std::string& base_dir) {
  const std::string plugin = Config::peek_string(text, source, key, overrides, fallback);
  // An override's path stays relative to the working directory.
  const bool overridden =
      std::any_of(overrides.begin(), overrides.end(),
                  [&](const std::string& o) { return o.rfind(key + "=", 0) == 0; });
  return overridden ? plugin : resolve_path(plugin, base_dir, PathKind::plugin);
}

}  // namespace xomni::jobs
