// The built-in `judge` reward: a frozen checkpoint of our own unified X-Omni model, asked in
// understanding mode whether the image shows its prompt (X-Omni's RL asks a Qwen2.5-VL judge).
//
//   score      = P(yes), the next-token probability of the answer word's (first) token under the
//                full softmax
//   sub-scores = p_yes, p_no, yes_share = P(yes) / (P(yes) + P(no))
//
// Config text (key = value lines or a TOML table): checkpoint (required), multimodal, question,
// strip_lead_in, yes, no, single_token, batch (see judge_model.h). The model loads once, in
// create().
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "judge_model.h"
#include "xomni/reward.h"

namespace {

thread_local std::string g_create_error;

struct JudgeReward {
  std::unique_ptr<xomni::judge::Judge> judge;
  std::string error;
};

void* judge_create(const char* config) {
  try {
    auto r = std::make_unique<JudgeReward>();
    r->judge = std::make_unique<xomni::judge::Judge>(
        xomni::judge::parse_judge_config(config ? config : ""));
    return r.release();
  } catch (const std::exception& e) {
    const std::string what = e.what();
    g_create_error = what.compare(0, 7, "judge: ") == 0 ? what : "judge: " + what;
    return nullptr;
  } catch (...) {
    g_create_error = "judge: unknown error while loading the model";
    return nullptr;
  }
}

int judge_score(void* handle, const XomniRewardBatch* batch, float* scores, float* sub_scores) {
  auto* r = static_cast<JudgeReward*>(handle);
  try {
    std::vector<xomni::Image> images(size_t(batch->size));
    std::vector<std::string> prompts(size_t(batch->size));
    for (int32_t i = 0; i < batch->size; ++i) {
      const XomniImage& im = batch->images[i];
      xomni::Image& image = images[size_t(i)];
      image.width = im.width, image.height = im.height;
      image.rgb.resize(size_t(3) * size_t(im.width) * size_t(im.height));
      for (int32_t y = 0; y < im.height; ++y)
        std::memcpy(image.rgb.data() + size_t(3) * size_t(y) * size_t(im.width),
                    im.rgb + y * im.stride, size_t(3) * size_t(im.width));
      prompts[size_t(i)] = batch->prompts[i] ? batch->prompts[i] : "";
    }
    const std::vector<xomni::judge::JudgeScore> s = r->judge->score(images, prompts);
    for (int32_t i = 0; i < batch->size; ++i) {
      scores[i] = s[size_t(i)].p_yes;
      if (sub_scores) {
        float* sub = sub_scores + 3 * i;
        sub[0] = s[size_t(i)].p_yes, sub[1] = s[size_t(i)].p_no, sub[2] = s[size_t(i)].yes_share;
      }
    }
    return 0;
  } catch (const std::exception& e) {
    const std::string what = e.what();
    r->error = what.compare(0, 7, "judge: ") == 0 ? what : "judge: " + what;
    return 1;
  } catch (...) {
    r->error = "judge: unknown error while scoring";
    return 1;
  }
}

void judge_destroy(void* handle) {
  delete static_cast<JudgeReward*>(handle);
}

const char* judge_last_error(void* handle) {
  return handle ? static_cast<JudgeReward*>(handle)->error.c_str() : g_create_error.c_str();
}

const char* const k_sub_scores[] = {"p_yes", "p_no", "yes_share"};

const XomniRewardPlugin k_plugin = {
    XOMNI_REWARD_ABI_VERSION,
    "judge",
    "1.0.0",
    "P(yes) of a frozen X-Omni checkpoint asked whether the image shows the prompt",
    3,
    k_sub_scores,
    16,
    0,  // one model, one forward pass at a time; the error text is per handle
    judge_create,
    judge_score,
    judge_destroy,
    judge_last_error,
};

}  // namespace

extern "C" XOMNI_REWARD_EXPORT const XomniRewardPlugin* xomni_reward_plugin(void) {
  return &k_plugin;
}
