#include "xomni/plugins/component_registry.h"

#include <map>
#include <mutex>

#include "xomni/core/tensor/error.h"
#include "xomni/plugins/shared_library.h"

namespace xomni::plugins {
namespace {

// Libraries by path, never closed: components created from them may live until exit.
SharedLibrary& loaded(const std::string& path) {
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<SharedLibrary>> libraries;
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = libraries[path];
  if (!slot) slot = std::make_unique<SharedLibrary>(path);
  return *slot;
}

const XomniComponentPlugin& entry_of(const SharedLibrary& lib) {
  auto entry = reinterpret_cast<XomniComponentEntry>(
      lib.require(XOMNI_COMPONENT_ENTRY, "an xomni component plugin"));
  const XomniComponentPlugin* p = entry();
  XOMNI_CHECK(p && p->kind && p->name && p->version && p->build_fingerprint && p->create,
              "plugin library ", lib.path(), ": ", XOMNI_COMPONENT_ENTRY,
              " returned an incomplete description (null fields)");
  return *p;
}

}  // namespace

ComponentPluginInfo describe_component_plugin(const std::string& path) {
  const XomniComponentPlugin& p = entry_of(loaded(path));
  return {p.kind, p.name, p.version, p.build_fingerprint, path, p.abi_version};
}

namespace {
// The plugin `name` of `kind`, checked to be loadable by this xomni; `who` names it in errors.
const XomniComponentPlugin& checked_plugin(const std::string& kind, const std::string& name,
                                           std::string& who) {
  const std::string path = find_plugin_library(name, kind + "_", kind);
  const XomniComponentPlugin& p = entry_of(loaded(path));
  who = kind + " plugin '" + name + "' (" + path + ")";
  XOMNI_CHECK(p.abi_version == XOMNI_COMPONENT_ABI_VERSION, who,
              " was built against component ABI version ", p.abi_version,
              " but this xomni uses version ", XOMNI_COMPONENT_ABI_VERSION,
              "; rebuild the plugin against this xomni's headers");
  XOMNI_CHECK(std::string(p.build_fingerprint) == XOMNI_BUILD_FINGERPRINT, who, " was built with '",
              p.build_fingerprint, "' but this xomni is '", XOMNI_BUILD_FINGERPRINT,
              "'; C++ components must be rebuilt with the same compiler and xomni version");
  XOMNI_CHECK(p.kind == kind, who, " is a ", p.kind, " plugin, not a ", kind,
              "; check which plugin the job file names for the ", kind);
  return p;
}
}  // namespace

std::vector<FieldSpec> component_settings_fields(const std::string& kind, const std::string& name) {
  std::string who;
  const XomniComponentPlugin& p = checked_plugin(kind, name, who);
  if (!p.settings_fields) return {};
  try {
    return p.settings_fields();
  } catch (const std::exception& e) {
    throw Error(who + " failed to declare its settings: " + e.what());
  }
}

std::unique_ptr<Component> create_component(const std::string& kind, const std::string& name,
                                            const ComponentContext& context) {
  std::string who;
  const XomniComponentPlugin& p = checked_plugin(kind, name, who);
  Component* raw = nullptr;
  try {
    raw = p.create(context);
  } catch (const std::exception& e) {
    throw Error(who + " failed to create its " + kind + " from " + context.where + ": " + e.what());
  }
  XOMNI_CHECK(raw, who, " returned no ", kind, " (its factory gave nullptr)");
  return std::unique_ptr<Component>(raw);
}

namespace {
template <typename T>
std::unique_ptr<T> create_as(const std::string& kind, const std::string& name,
                             const ComponentContext& context) {
  std::unique_ptr<Component> c = create_component(kind, name, context);
  T* typed = dynamic_cast<T*>(c.get());
  XOMNI_CHECK(typed, kind, " plugin '", name, "' made an object that does not implement the ", kind,
              " interface (was it built against another xomni?)");
  c.release();
  return std::unique_ptr<T>(typed);
}
}  // namespace

std::unique_ptr<TextTokenizer> create_text_tokenizer(const std::string& name,
                                                     const ComponentContext& context) {
  return create_as<TextTokenizer>("text_tokenizer", name, context);
}

std::unique_ptr<Backbone> create_backbone(const std::string& name,
                                          const ComponentContext& context) {
  return create_as<Backbone>("backbone", name, context);
}

std::unique_ptr<ImageTokenizer> create_image_tokenizer(const std::string& name,
                                                       const ComponentContext& context) {
  return create_as<ImageTokenizer>("image_tokenizer", name, context);
}

std::unique_ptr<Adapter> create_adapter(const std::string& name, const ComponentContext& context) {
  return create_as<Adapter>("adapter", name, context);
}

std::unique_ptr<DiffusionDecoder> create_diffusion_decoder(const std::string& name,
                                                           const ComponentContext& context) {
  return create_as<DiffusionDecoder>("diffusion_decoder", name, context);
}

}  // namespace xomni::plugins
