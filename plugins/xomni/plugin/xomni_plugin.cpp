// The X-Omni unified backbone as a component plugin: kind "backbone", name "xomni". Settings are
// the fields of an X-Omni config.json (model_type "x-omni"); the plugin declares them for job
// files.
#include "xomni/plugins/component_abi.h"
#include "xomni/plugins/components.h"
#include "xomni/xomni_model/model.h"

namespace {

xomni::plugins::Component* create(const xomni::plugins::ComponentContext& context) {
  const auto cfg = xomni::xomni_model::Config::from_json_text(context.config_json, context.where);
  const xomni::qwen2::Placement placement{context.tp, context.cp, context.first_layer,
                                          context.last_layer};
  return new xomni::xomni_model::XOmniForCausalLM(cfg, context.seed, placement);
}

const XomniComponentPlugin kPlugin = {XOMNI_COMPONENT_ABI_VERSION,
                                      "backbone",
                                      "xomni",
                                      "1.0",
                                      XOMNI_BUILD_FINGERPRINT,
                                      &create,
                                      &xomni::xomni_model::Config::job_fields};

}  // namespace

extern "C" __attribute__((visibility("default"))) const XomniComponentPlugin*
xomni_component_plugin(void) {
  return &kPlugin;
}
