// Test plugin whose failure is chosen by its config text ("mode = <m>"):
//   ok            scores[i] = the size of the batch it was handed (shows the batch-size hint),
//                 sub-score "index" = i within that batch
//   error         score() returns 1 with last_error "asked to fail"
//   throw         score() throws std::runtime_error("boom")
//   nan / inf     sample 1's score / sub-score is NaN / +Inf
//   create_fail   create() returns NULL; create_throw: create() throws
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "xomni/reward.h"

namespace {

struct Faulty {
  std::string mode, error;
};
thread_local std::string g_error;

void* create(const char* config) {
  std::string c = config ? config : "";
  const size_t eq = c.find('=');
  std::string mode = eq == std::string::npos ? "ok" : c.substr(eq + 1);
  mode.erase(0, mode.find_first_not_of(" \"'"));
  mode.erase(mode.find_last_not_of(" \"'\n") + 1);
  if (mode == "create_fail") {
    g_error = "faulty: told to fail in create";
    return nullptr;
  }
  if (mode == "create_throw") throw std::runtime_error("create went wrong");
  return new Faulty{mode, ""};
}

int score(void* handle, const XomniRewardBatch* batch, float* scores, float* sub_scores) {
  auto* f = static_cast<Faulty*>(handle);
  if (f->mode == "error") {
    f->error = "faulty: asked to fail";
    return 1;
  }
  if (f->mode == "throw") throw std::runtime_error("boom");
  for (int32_t i = 0; i < batch->size; ++i) {
    scores[i] = float(batch->size);
    sub_scores[i] = float(i);
  }
  if (batch->size > 1 && f->mode == "nan") scores[1] = std::numeric_limits<float>::quiet_NaN();
  if (batch->size > 1 && f->mode == "inf") sub_scores[1] = std::numeric_limits<float>::infinity();
  return 0;
}

void destroy(void* handle) {
  delete static_cast<Faulty*>(handle);
}
const char* last_error(void* handle) {
  return handle ? static_cast<Faulty*>(handle)->error.c_str() : g_error.c_str();
}

const char* const kSub[] = {"index"};
const XomniRewardPlugin kPlugin = {XOMNI_REWARD_ABI_VERSION,
                                   "faulty",
                                   "0.1.0",
                                   "test plugin",
                                   1,
                                   kSub,
                                   2,
                                   0,
                                   create,
                                   score,
                                   destroy,
                                   last_error};

}  // namespace

extern "C" XOMNI_REWARD_EXPORT const XomniRewardPlugin* xomni_reward_plugin(void) {
  return &kPlugin;
}
