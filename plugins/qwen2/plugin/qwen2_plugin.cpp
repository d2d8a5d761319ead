// The Qwen2 backbone as a component plugin: kind "backbone", name "qwen2". Settings are the
// fields of a Hugging Face Qwen2 config.json; the plugin declares them for job files.
#include "xomni/plugins/component_abi.h"
#include "xomni/plugins/components.h"
#include "xomni/qwen2/model.h"

namespace {

xomni::plugins::Component* create(const xomni::plugins::ComponentContext& context) {
  const auto cfg = xomni::qwen2::Config::from_json_text(context.config_json, context.where);
  const xomni::qwen2::Placement placement{context.tp, context.cp, context.first_layer,
                                          context.last_layer};
  return new xomni::qwen2::CausalLM(cfg, context.seed, placement);
}

const XomniComponentPlugin kPlugin = {
    XOMNI_COMPONENT_ABI_VERSION,      "backbone", "qwen2", "1.0", XOMNI_BUILD_FINGERPRINT, &create,
    &xomni::qwen2::Config::job_fields};

}  // namespace

extern "C" __attribute__((visibility("default"))) const XomniComponentPlugin*
xomni_component_plugin(void) {
  return &kPlugin;
}
