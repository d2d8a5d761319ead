// The SigLIP-VQ image tokenizer as a component plugin: kind "image_tokenizer", name "siglip_vq".
// Settings: xomni::siglip_vq::Config (declared with defaults, docs and ranges for job files).
#include "xomni/plugins/component_abi.h"
#include "xomni/plugins/components.h"
#include "xomni/siglip_vq/model.h"

namespace {

xomni::plugins::Component* create(const xomni::plugins::ComponentContext& context) {
  const auto cfg = xomni::siglip_vq::Config::from_json_text(context.config_json, context.where,
                                                            context.tp.size());
  return new xomni::siglip_vq::SiglipVQ(cfg, context.seed, context.tp);
}

const XomniComponentPlugin kPlugin = {XOMNI_COMPONENT_ABI_VERSION,
                                      "image_tokenizer",
                                      "siglip_vq",
                                      "1.0",
                                      XOMNI_BUILD_FINGERPRINT,
                                      &create,
                                      &xomni::siglip_vq::Config::fields};

}  // namespace

extern "C" __attribute__((visibility("default"))) const XomniComponentPlugin*
xomni_component_plugin(void) {
  return &kPlugin;
}
