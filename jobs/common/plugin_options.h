#pragma once
// A job-file section whose fields a component plugin declares ([model] for a backbone,
// [tokenizer] for an image tokenizer, ...): the fields under the section's prefix for a schema,
// and the section's values as the JSON object the plugin's factory reads.
#include <string>
#include <vector>

#include "xomni/core/config/config.h"
#include "xomni/parallel/topology.h"

namespace xomni::jobs {

// The settings `plugin` (of `kind`) declares, keyed "<section>.<field>".
std::vector<FieldSpec> plugin_section_fields(const std::string& kind, const std::string& plugin,
                                             const std::string& section);

// The values of those fields in `config` as a JSON object under the plugin's own names.
std::string plugin_settings_json(const Config& config, const std::string& kind,
                                 const std::string& plugin, const std::string& section);

// The sizes a parallel layout must divide, read from a backbone's settings by their Hugging Face
// names (every backbone's settings have them); throws naming the missing one.
parallel::ModelDims backbone_dims(const std::string& settings_json, const std::string& where);

// The plugin a job names at `key` (overrides included): a name as written, or a path written in
// the file made relative to the file's folder `base_dir` (as Config::parse will resolve it).
std::string peek_plugin(const std::string& text, const std::string& source, const std::string& key,
                        const std::vector<std::string>& overrides, const std::string& fallback,
                        const std::string& base_dir);

}  // namespace xomni::jobs
