#pragma once
// The entry point every model-component plugin exports. A component plugin is a C++ MODULE
// library built against an installed xomni; it defines
//
//   extern "C" const XomniComponentPlugin* xomni_component_plugin(void);
//
// returning a static description: its kind (one of the kinds in components.h), name, version,
// the ABI version and build fingerprint it was compiled with (checked on load: a mismatch means
// the C++ interfaces may differ, so the plugin must be rebuilt), and a factory. Components are C++
// objects, so plugin and host must share compiler and xomni version; rewards, which need not, use
// the plain C ABI in rewards/include/xomni/reward.h instead.
#include <cstddef>
#include <cstdint>
#include <vector>

// 3: FieldSpec (returned by settings_fields) gained its range and path kind.
// 4: the image tokenizer and diffusion decoder gained their training hooks; backbones take prefix
//    embeddings.
#define XOMNI_COMPONENT_ABI_VERSION 5
// Compiler and xomni version; a plugin built elsewhere is refused with both strings shown.
#define XOMNI_STRINGIFY_(x) #x
#define XOMNI_STRINGIFY(x) XOMNI_STRINGIFY_(x)
#define XOMNI_BUILD_FINGERPRINT                         \
  "gcc " XOMNI_STRINGIFY(__GNUC__) "." XOMNI_STRINGIFY( \
      __GNUC_MINOR__) ", xomni " XOMNI_VERSION_STRING
#ifndef XOMNI_VERSION_STRING
#define XOMNI_VERSION_STRING "0.1.0"
#endif

namespace xomni {
struct FieldSpec;
}
namespace xomni::plugins {
class Component;
struct ComponentContext;
}  // namespace xomni::plugins

extern "C" {

struct XomniComponentPlugin {
  uint32_t abi_version;           // XOMNI_COMPONENT_ABI_VERSION at the plugin's build
  const char* kind;               // "text_tokenizer", "backbone", ...
  const char* name;               // e.g. "qwen2"
  const char* version;            // the plugin's own version
  const char* build_fingerprint;  // XOMNI_BUILD_FINGERPRINT at the plugin's build
  // Makes a component from its context (config text and more, see components.h). May throw a
  // std::exception; the registry adds the plugin's name and file to the message.
  xomni::plugins::Component* (*create)(const xomni::plugins::ComponentContext& context);
  // The settings of the component's job-file section (xomni/core/config/config.h field specs,
  // keys without the section prefix), so that a job checks them with its other fields, or null
  // when the plugin declares none. Added in ABI version 2.
  std::vector<xomni::FieldSpec> (*settings_fields)(void);
};

typedef const XomniComponentPlugin* (*XomniComponentEntry)(void);
}

// The symbol name the registry looks up.
#define XOMNI_COMPONENT_ENTRY "xomni_component_plugin"
