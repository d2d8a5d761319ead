#pragma once
// Finding, checking and instantiating model-component plugins. A plugin is named in the job file
// ("qwen2") and found as libxomni_<kind>_<name>.so on the plugin search path, or given by path.
// Loaded libraries stay loaded for the life of the process (components' code lives in them).
#include <memory>
#include <string>
#include <vector>

#include "xomni/core/config/config.h"
#include "xomni/plugins/components.h"

namespace xomni::plugins {

struct ComponentPluginInfo {
  std::string kind, name, version, fingerprint, path;
  uint32_t abi_version = 0;
};

// Loads `path` and reads its entry point without checking versions (for `xomni plugins`).
// Throws when the file does not load or has no component entry point.
ComponentPluginInfo describe_component_plugin(const std::string& path);

// Creates a component of `kind` from the plugin `name` (a name or a library path). Every failure
// (no such plugin, a library that does not load, no entry point, another ABI version or build
// fingerprint, a plugin of another kind, an exception in its factory) throws an Error naming the
// plugin, its file and what to do.
std::unique_ptr<Component> create_component(const std::string& kind, const std::string& name,
                                            const ComponentContext& context);

// The settings the plugin declares for its job-file section (e.g. a backbone's hyper-parameters,
// keys without the section prefix, with defaults and docs), checked like create_component; empty
// when it declares none (its section is then passed on unchecked).
std::vector<FieldSpec> component_settings_fields(const std::string& kind, const std::string& name);

std::unique_ptr<TextTokenizer> create_text_tokenizer(const std::string& name,
                                                     const ComponentContext& context);
std::unique_ptr<Backbone> create_backbone(const std::string& name, const ComponentContext& context);
std::unique_ptr<ImageTokenizer> create_image_tokenizer(const std::string& name,
                                                       const ComponentContext& context);
std::unique_ptr<Adapter> create_adapter(const std::string& name, const ComponentContext& context);
std::unique_ptr<DiffusionDecoder> create_diffusion_decoder(const std::string& name,
                                                           const ComponentContext& context);

}  // namespace xomni::plugins
