// The built-in `realism` reward: the realism scorer (jobs/realism/realism_model.h), trained by
// the realism stage to tell coherent images from renderings of corrupted token sequences.
//
//   score      = sigmoid(logit), in (0, 1): the scorer's belief that the image is coherent
//   sub-scores = logit (the raw output)
//
// Each image is resized to the scorer's model.image_size square exactly as the stage trained it
// (realism_batch). Config text (key = value lines): checkpoint = PATH (required; a realism-stage
// checkpoint, quotes optional), batch = N (images per forward pass, default 16).
#include <algorithm>
#include <cstring>
#include <exception>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "realism/realism_model.h"
#include "xomni/core/tensor/autograd.h"
#include "xomni/reward.h"

namespace {

thread_local std::string g_create_error;

struct RealismReward {
  std::unique_ptr<xomni::realism::RealismModel> model;
  int64_t batch = 16;
  std::string error;
};

std::string trimmed(std::string s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string::npos) return "";
  s = s.substr(first, s.find_last_not_of(" \t\r") - first + 1);
  if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front())
    s = s.substr(1, s.size() - 2);
  return s;
}

void* realism_create(const char* config) {
  try {
    std::string checkpoint;
    int64_t batch = 16;
    std::istringstream in(config ? config : "");
    for (std::string line; std::getline(in, line);) {
      const std::string t = trimmed(line);
      if (t.empty() || t[0] == '#') continue;
      const auto eq = t.find('=');
      const std::string key = eq == std::string::npos ? t : trimmed(t.substr(0, eq));
      const std::string value = eq == std::string::npos ? "" : trimmed(t.substr(eq + 1));
      if (key == "checkpoint" && !value.empty()) {
        checkpoint = value;
      } else if (key == "batch" && !value.empty() &&
                 value.find_first_not_of("0123456789") == std::string::npos && value.size() < 7 &&
                 std::stoll(value) > 0) {
        batch = std::stoll(value);
      } else {
        g_create_error = "realism: cannot read config line '" + line +
                         "' (expected checkpoint = PATH or batch = <positive integer>)";
        return nullptr;
      }
    }
    if (checkpoint.empty()) {
      g_create_error =
          "realism: the config sets no checkpoint (checkpoint = PATH of a realism-stage "
          "checkpoint, e.g. runs/tiny/realism/checkpoints/ckpt-00000300.h5)";
      return nullptr;
    }
    auto r = std::make_unique<RealismReward>();
    r->model = xomni::realism::load_realism_model(checkpoint);
    r->batch = batch;
    return r.release();
  } catch (const std::exception& e) {
    g_create_error = std::string("realism: ") + e.what();
    return nullptr;
  } catch (...) {
    g_create_error = "realism: an unknown error while loading the scorer";
    return nullptr;
  }
}

int realism_score(void* handle, const XomniRewardBatch* batch, float* scores, float* sub_scores) {
  auto* r = static_cast<RealismReward*>(handle);
  int32_t first = 0;
  try {
    xomni::NoGradGuard no_grad;
    for (; first < batch->size; first += int32_t(r->batch)) {
      const int32_t end = std::min<int32_t>(batch->size, first + int32_t(r->batch));
      std::vector<xomni::Image> images;
      for (int32_t i = first; i < end; ++i) {
        const XomniImage& im = batch->images[i];
        if (!im.rgb || im.width <= 0 || im.height <= 0 || im.stride < 3 * int64_t(im.width))
          throw std::runtime_error("an empty image or a stride below 3 * width");
        xomni::Image image(im.width, im.height);
        for (int32_t y = 0; y < im.height; ++y)
          std::memcpy(image.rgb.data() + size_t(3) * size_t(y) * size_t(im.width),
                      im.rgb + y * im.stride, size_t(3) * size_t(im.width));
        images.push_back(std::move(image));
      }
      const xomni::Tensor logits =
          (*r->model)(xomni::realism::realism_batch(images, r->model->options().image_size));
      const std::vector<float> z = logits.to_vector<float>();
      const std::vector<float> p = xomni::sigmoid(logits).to_vector<float>();
      for (int32_t i = first; i < end; ++i) {
        scores[i] = p[size_t(i - first)];
        if (sub_scores) sub_scores[i] = z[size_t(i - first)];
      }
    }
    return 0;
  } catch (const std::exception& e) {
    r->error = "realism: batch from sample " + std::to_string(first) + ": " + e.what();
    return 1;
  } catch (...) {
    r->error = "realism: batch from sample " + std::to_string(first) + ": an unknown error";
    return 1;
  }
}

void realism_destroy(void* handle) {
  delete static_cast<RealismReward*>(handle);
}

const char* realism_last_error(void* handle) {
  return handle ? static_cast<RealismReward*>(handle)->error.c_str() : g_create_error.c_str();
}

const char* const k_sub_scores[] = {"logit"};

const XomniRewardPlugin k_plugin = {
    XOMNI_REWARD_ABI_VERSION,
    "realism",
    "1.0.0",
    "learned realism scorer: sigmoid of a small CNN's logit (coherent vs corrupted-code images)",
    1,
    k_sub_scores,
    0,
    0,  // the model's forward pass is not meant to run concurrently on one handle
    realism_create,
    realism_score,
    realism_destroy,
    realism_last_error,
};

}  // namespace

extern "C" XOMNI_REWARD_EXPORT const XomniRewardPlugin* xomni_reward_plugin(void) {
  return &k_plugin;
}
