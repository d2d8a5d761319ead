// The built-in `ocr` reward: Tesseract reads the image, and the text is scored against the text
// the prompt asks for with the OneIG-Bench and LongText-Bench text metrics (text_metrics.h).
//
// Target text: metadata {"text": "..."} (or a list of strings, joined by spaces) when given,
// otherwise every span in double quotes ("..." or “...”) in the prompt, joined by spaces.
// Config text (key = value lines): lang = "eng", psm = 7 (Tesseract page segmentation mode;
// 7 = one line, 6 = a block), max_edit_distance = 0 (0: the target's length, 100: OneIG-Bench's
// constant), datapath = "" (tessdata folder; "" = Tesseract's default).
// Tesseract uses OpenMP inside; run with OMP_THREAD_LIMIT=1 (5-8x faster per image, see
// docs/PERF.md): libgomp reads it at start-up, so it cannot be set from here.
#include <leptonica/allheaders.h>
#include <tesseract/baseapi.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "text_metrics.h"
#include "xomni/reward.h"

namespace {

thread_local std::string g_create_error;
// Grey levels between the darkest and lightest pixel below which an image counts as blank.
constexpr int kMinContrast = 16;

struct OcrReward {
  tesseract::TessBaseAPI api;
  double max_edit_distance = 0.0;
  std::string error;
};

std::string trim(std::string s) {
  const char* ws = " \t\r\n";
  s.erase(0, s.find_first_not_of(ws));
  s.erase(s.find_last_not_of(ws) + 1);
  if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front())
    s = s.substr(1, s.size() - 2);
  return s;
}

// The quoted spans of `prompt`: "..." and “...” (UTF-8 E2 80 9C / E2 80 9D).
std::string quoted_text(const std::string& prompt) {
  std::string out;
  size_t i = 0;
  while (i < prompt.size()) {
    size_t open = std::string::npos, open_len = 0;
    std::string close;
    const size_t a = prompt.find('"', i), b = prompt.find("\xE2\x80\x9C", i);
    if (a != std::string::npos && (b == std::string::npos || a < b)) {
      open = a, open_len = 1, close = "\"";
    } else if (b != std::string::npos) {
      open = b, open_len = 3, close = "\xE2\x80\x9D";
    }
    if (open == std::string::npos) break;
    const size_t end = prompt.find(close, open + open_len);
    if (end == std::string::npos) break;
    if (!out.empty()) out += ' ';
    out += prompt.substr(open + open_len, end - open - open_len);
    i = end + close.size();
  }
  return out;
}

// The text sample `i` should show, or "" with `why` set.
std::string target_text(const char* prompt, const char* metadata, std::string& why) {
  if (metadata && *metadata) {
    nlohmann::json meta;
    try {
      meta = nlohmann::json::parse(metadata);
    } catch (const std::exception& e) {
      why = std::string("its metadata is not JSON (") + e.what() + ")";
      return "";
    }
    if (meta.is_object() && meta.contains("text")) {
      const auto& t = meta["text"];
      if (t.is_string()) return t.get<std::string>();
      if (t.is_array()) {
        std::string out;
        for (const auto& part : t) {
          if (!part.is_string()) break;
          out += (out.empty() ? "" : " ") + part.get<std::string>();
        }
        return out;
      }
      why = "metadata \"text\" is neither a string nor a list of strings";
      return "";
    }
  }
  std::string quoted = quoted_text(prompt ? prompt : "");
  if (quoted.empty())
    why = "neither its metadata has \"text\" nor its prompt has text in double quotes";
  return quoted;
}

void* ocr_create(const char* config) {
  try {
    auto r = std::make_unique<OcrReward>();
    std::string lang = "eng", datapath;
    int psm = tesseract::PSM_SINGLE_LINE;
    std::istringstream in(config ? config : "");
    std::string line;
    while (std::getline(in, line)) {
      const size_t hash = line.find('#');
      if (hash != std::string::npos) line.erase(hash);
      if (trim(line).empty()) continue;
      const size_t eq = line.find('=');
      if (eq == std::string::npos)
        throw std::runtime_error("config line '" + line + "' is not key = value");
      const std::string key = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
      if (key == "lang")
        lang = value;
      else if (key == "datapath")
        datapath = value;
      else if (key == "psm")
        psm = std::stoi(value);
      else if (key == "max_edit_distance")
        r->max_edit_distance = std::stod(value);
      else
        throw std::runtime_error("unknown config key '" + key +
                                 "' (known: lang, psm, max_edit_distance, datapath)");
    }
    if (r->api.Init(datapath.empty() ? nullptr : datapath.c_str(), lang.c_str(),
                    tesseract::OEM_LSTM_ONLY) != 0)
      throw std::runtime_error("Tesseract cannot load language '" + lang +
                               "' (install tesseract-ocr-" + lang + " or set datapath)");
    static bool warned = false;
    if (!std::getenv("OMP_THREAD_LIMIT") && !warned) {
      warned = true;
      std::fprintf(stderr,
                   "ocr reward: OMP_THREAD_LIMIT is not set; Tesseract runs 4-8x slower "
                   "per image (see docs/PERF.md). Set OMP_THREAD_LIMIT=1 where OCR dominates.\n");
    }
    r->api.SetPageSegMode(static_cast<tesseract::PageSegMode>(psm));
    r->api.SetVariable("user_defined_dpi", "300");
    return r.release();
  } catch (const std::exception& e) {
    g_create_error = std::string("ocr: ") + e.what();
    return nullptr;
  }
}

int ocr_score(void* handle, const XomniRewardBatch* batch, float* scores, float* sub_scores) {
  auto* r = static_cast<OcrReward*>(handle);
  try {
    std::vector<uint8_t> gray;
    for (int32_t i = 0; i < batch->size; ++i) {
      std::string why;
      const std::string target = target_text(batch->prompts[i], batch->metadata[i], why);
      if (target.empty()) {
        r->error = "ocr: sample " + std::to_string(i) + " has no target text: " + why;
        return 1;
      }
      const XomniImage& im = batch->images[i];
      gray.resize(size_t(im.width) * size_t(im.height));
      for (int32_t y = 0; y < im.height; ++y)
        for (int32_t x = 0; x < im.width; ++x) {
          const uint8_t* p = im.rgb + y * im.stride + 3 * x;
          gray[size_t(y) * im.width + x] =
              uint8_t(std::lround(0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]));
        }
      // A flat image holds no text, but Tesseract's line mode reads noise into one; skip it.
      const auto [lo, hi] = std::minmax_element(gray.begin(), gray.end());
      std::string text;
      if (!gray.empty() && *hi - *lo >= kMinContrast) {
        r->api.SetImage(gray.data(), im.width, im.height, 1, im.width);
        std::unique_ptr<char[]> utf8(r->api.GetUTF8Text());
        if (utf8) text = utf8.get();
      }
      const xomni_ocr::TextScores s = xomni_ocr::score_text(text, target, r->max_edit_distance);
      scores[i] = float(s.oneig);
      float* sub = sub_scores + 5 * i;
      sub[0] = float(s.edit_distance);
      sub[1] = float(s.completion);
      sub[2] = float(s.word_accuracy);
      sub[3] = float(s.oneig);
      sub[4] = float(s.longtext);
    }
    r->api.Clear();
    return 0;
  } catch (const std::exception& e) {
    r->error = std::string("ocr: ") + e.what();
    return 1;
  }
}

void ocr_destroy(void* handle) {
  delete static_cast<OcrReward*>(handle);
}

const char* ocr_last_error(void* handle) {
  return handle ? static_cast<OcrReward*>(handle)->error.c_str() : g_create_error.c_str();
}

const char* const kSubScores[] = {"edit_distance", "completion_rate", "word_accuracy",
                                  "oneig_text_score", "longtext_accuracy"};

const XomniRewardPlugin kPlugin = {
    XOMNI_REWARD_ABI_VERSION,
    "ocr",
    "1.0.0",
    "Tesseract OCR vs the prompt's quoted text (OneIG-Bench text score, LongText accuracy)",
    5,
    kSubScores,
    0,
    0,  // one TessBaseAPI per handle: not safe to share between threads
    ocr_create,
    ocr_score,
    ocr_destroy,
    ocr_last_error,
};

}  // namespace

extern "C" XOMNI_REWARD_EXPORT const XomniRewardPlugin* xomni_reward_plugin(void) {
  return &kPlugin;
}
