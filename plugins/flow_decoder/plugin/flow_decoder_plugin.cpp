// The rectified-flow UNet decoder as a component plugin: kind "diffusion_decoder", name "flow".
// Settings (all optional, defaults for 64x64 images from 8x8 token grids) are declared in
// xomni/flow_decoder/config.h and listed for job files by settings_fields.
#include "xomni/flow_decoder/model.h"
#include "xomni/plugins/component_abi.h"
#include "xomni/plugins/components.h"

namespace {

xomni::plugins::Component* create(const xomni::plugins::ComponentContext& context) {
  const auto cfg = xomni::flow_decoder::Config::from_json_text(context.config_json, context.where);
  return new xomni::flow_decoder::FlowDecoder(cfg, context.seed);
}

const XomniComponentPlugin kPlugin = {XOMNI_COMPONENT_ABI_VERSION,
                                      "diffusion_decoder",
                                      "flow",
                                      "1.0",
                                      XOMNI_BUILD_FINGERPRINT,
                                      &create,
                                      &xomni::flow_decoder::Config::job_fields};

}  // namespace

extern "C" __attribute__((visibility("default"))) const XomniComponentPlugin*
xomni_component_plugin(void) {
  return &kPlugin;
}
