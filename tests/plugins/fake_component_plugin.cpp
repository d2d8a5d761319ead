// A component plugin with one deliberate defect, chosen at compile time, for the registry's
// error tests: FAKE_ABI (the ABI version it claims), FAKE_KIND, FAKE_THROWS (its factory throws),
// FAKE_NO_ENTRY (no entry point at all). Without defects it makes a working text tokenizer that
// maps each byte to its value.
#include <stdexcept>

#include "xomni/plugins/component_abi.h"
#include "xomni/plugins/components.h"

#ifndef FAKE_ABI
#define FAKE_ABI XOMNI_COMPONENT_ABI_VERSION
#endif
#ifndef FAKE_KIND
#define FAKE_KIND "text_tokenizer"
#endif

namespace {

class ByteTokenizer final : public xomni::plugins::TextTokenizer {
 public:
  std::vector<int64_t> encode(std::string_view text, bool) const override {
    return std::vector<int64_t>(text.begin(), text.end());
  }
  std::string decode(const std::vector<int64_t>& ids, bool) const override {
    return std::string(ids.begin(), ids.end());
  }
  int64_t vocab_size() const override { return 256; }
  void save(const std::string&) const override {}
};

xomni::plugins::Component* create(const xomni::plugins::ComponentContext&) {
#ifdef FAKE_THROWS
  throw std::runtime_error("the settings lack \"vocab\"");
#else
  return new ByteTokenizer();
#endif
}

const XomniComponentPlugin kPlugin = {FAKE_ABI, FAKE_KIND, "fake", "0.1", XOMNI_BUILD_FINGERPRINT,
                                      &create,  nullptr};
}  // namespace

#ifndef FAKE_NO_ENTRY
extern "C" __attribute__((visibility("default"))) const XomniComponentPlugin*
xomni_component_plugin(void) {
  return &kPlugin;
}
#endif
