// The residual adapter as a component plugin: kind "adapter", name "residual". It maps image-code
// embeddings [B, N, in_dim] to the backbone's width: h = proj(x); y = h + fc2(gelu(fc1(norm(h)))).
// Settings: xomni::siglip_vq::AdapterConfig (in_dim, out_dim, hidden, layer_norm_eps).
#include "xomni/plugins/component_abi.h"
#include "xomni/plugins/components.h"
#include "xomni/siglip_vq/model.h"

namespace {

xomni::plugins::Component* create(const xomni::plugins::ComponentContext& context) {
  const auto cfg =
      xomni::siglip_vq::AdapterConfig::from_json_text(context.config_json, context.where);
  return new xomni::siglip_vq::ResidualAdapter(cfg, context.seed);
}

const XomniComponentPlugin kPlugin = {XOMNI_COMPONENT_ABI_VERSION,
                                      "adapter",
                                      "residual",
                                      "1.0",
                                      XOMNI_BUILD_FINGERPRINT,
                                      &create,
                                      &xomni::siglip_vq::AdapterConfig::fields};

}  // namespace

extern "C" __attribute__((visibility("default"))) const XomniComponentPlugin*
xomni_component_plugin(void) {
  return &kPlugin;
}
