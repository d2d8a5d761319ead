// The judge reward's model side (see judge_model.h).
#include "judge_model.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "cli_tokenizer.h"
#include "codec/codec_components.h"
#include "mm_prompt.h"
#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni::judge {
namespace {

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r");
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(" \t\r") + 1 - a);
}

// A value as written: "basic" (with \" \\ \n \t escapes), 'literal', or a bare word.
std::string config_value(const std::string& raw, const std::string& line) {
  const std::string v = trim(raw);
  if (v.empty() || (v[0] != '"' && v[0] != '\'')) return v;
  const char q = v[0];
  std::string out;
  size_t i = 1;
  for (; i < v.size() && v[i] != q; ++i) {
    if (q == '"' && v[i] == '\\' && i + 1 < v.size()) {
      const char c = v[++i];
      out += c == 'n' ? '\n' : c == 't' ? '\t' : c;
    } else {
      out += v[i];
    }
  }
  XOMNI_CHECK(i < v.size() && trim(v.substr(i + 1)).empty(), "judge: config line '", line,
              "' has an unterminated string or text after it");
  return out;
}

bool config_bool(const std::string& v, const std::string& line) {
  if (v == "true" || v == "1") return true;
  if (v == "false" || v == "0") return false;
  throw Error("judge: config line '" + line + "': expected true or false");
}

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The first token id of an answer word (its only one under single_token).
int64_t answer_id(const plugins::TextTokenizer& tok, const cli::MultimodalInfo& info,
                  const std::string& word, const char* key, bool single_token) {
  const std::vector<int64_t> ids = tok.encode(word, /*allow_special=*/false);
  XOMNI_CHECK(!ids.empty(), "judge: the answer word ", key, " = \"", word,
              "\" encodes to no token");
  XOMNI_CHECK(ids.size() == 1 || !single_token, "judge: the answer word ", key, " = \"", word,
              "\" is ", ids.size(), " tokens of ", info.text_tokenizer,
              ", not one (single_token = true); choose a word that is a single token or let the "
              "judge read its first token (single_token = false)");
  XOMNI_CHECK(ids[0] >= 0 && ids[0] < info.text_vocab_size, "judge: the answer word \"", word,
              "\" has id ", ids[0], ", outside the text vocabulary of ", info.path);
  return ids[0];
}

}  // namespace

JudgeOptions parse_judge_config(const std::string& text) {
  JudgeOptions o;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const std::string t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    const size_t eq = t.find('=');
    XOMNI_CHECK(eq != std::string::npos, "judge: config line '", t, "' is not key = value");
    const std::string key = trim(t.substr(0, eq));
    const std::string v = config_value(t.substr(eq + 1), t);
    if (key == "checkpoint") {
      o.checkpoint = v;
    } else if (key == "multimodal") {
      o.multimodal = v;
    } else if (key == "question") {
      o.question = v;
    } else if (key == "strip_lead_in") {
      o.strip_lead_in = config_bool(v, t);
    } else if (key == "single_token") {
      o.single_token = config_bool(v, t);
    } else if (key == "yes") {
      o.yes = v;
    } else if (key == "no") {
      o.no = v;
    } else if (key == "batch") {
      char* end = nullptr;
      o.batch = std::strtoll(v.c_str(), &end, 10);
      XOMNI_CHECK(!v.empty() && *end == '\0' && o.batch >= 1, "judge: config line '", t,
                  "': batch must be an integer >= 1");
    } else {
      throw Error(
          "judge: unknown config key '" + key +
          "' (known: checkpoint, multimodal, question, strip_lead_in, yes, no, single_token, "
          "batch)");
    }
  }
  XOMNI_CHECK(!o.checkpoint.empty(),
              "judge: the config names no checkpoint; set checkpoint = \"PATH\" (an xomni "
              "training checkpoint of the X-Omni model, e.g. runs/tiny/xomni-sft/checkpoints/"
              "ckpt-N.h5)");
  XOMNI_CHECK(o.question.find("{prompt}") != std::string::npos, "judge: the question \"",
              o.question, "\" has no {prompt} to put the prompt in");
  XOMNI_CHECK(o.yes != o.no, "judge: the answer words yes and no are both \"", o.yes, "\"");
  return o;
}

std::string judge_question(const JudgeOptions& options, const std::string& prompt) {
  std::string p = trim(prompt);
  if (options.strip_lead_in) {
    // The lead-ins of the world's prompt templates (world/src/scene_text.cpp).
    static const char* const kLeadIns[] = {"a photo of ",        "an image of ",  "an image with ",
                                           "a picture showing ", "a picture of ", "there is ",
                                           "there are "};
    const std::string l = lower(p);
    for (const char* lead : kLeadIns) {
      const std::string s = lead;
      if (l.compare(0, s.size(), s) == 0 && l.size() > s.size()) {
        p = p.substr(s.size());
        break;
      }
    }
  }
  std::string q = options.question;
  for (size_t at = q.find("{prompt}"); at != std::string::npos;
       at = q.find("{prompt}", at + p.size()))
    q.replace(at, 8, p);
  return q;
}

Judge::Judge(JudgeOptions options) : options_(std::move(options)) {
  const std::string& ckpt = options_.checkpoint;
  XOMNI_CHECK(std::filesystem::is_regular_file(ckpt), "judge: checkpoint ", ckpt,
              " is not a file here (a path relative to the working directory, or absolute)");
  try {
    model_ = cli::load_model_checkpoint(ckpt, "");
  } catch (const Error& e) {
    throw Error(std::string("judge: cannot load the model from ") + ckpt + ": " + e.what() +
                " (the judge needs a checkpoint of the X-Omni stages s1, s2, s3 or sft)");
  }
  XOMNI_CHECK(model_.is_xomni(), "judge: ", ckpt, " holds a ", model_.backbone,
              " model, not an X-Omni one (backbone \"xomni\"); the judge reads images as image "
              "tokens and needs the unified model");
  info_ = cli::find_multimodal_info(model_, ckpt, options_.multimodal);
  cli::check_model_matches(model_, info_, ckpt);
  grid_h_ = info_.grids.front().first, grid_w_ = info_.grids.front().second;
  text_tokenizer_ = cli::load_tokenizer(info_.text_tokenizer);
  image_tokenizer_ = codec::load_tokenizer(info_.image_tokenizer, nullptr).tokenizer;
  XOMNI_CHECK(image_tokenizer_->codebook_size() == info_.image_vocab_size,
              "judge: the image "
              "tokenizer ",
              info_.image_tokenizer, " has ", image_tokenizer_->codebook_size(), " codes but ",
              info_.path, " says ", info_.image_vocab_size);
  yes_id_ = answer_id(*text_tokenizer_, info_, options_.yes, "yes", options_.single_token);
  no_id_ = answer_id(*text_tokenizer_, info_, options_.no, "no", options_.single_token);
  XOMNI_CHECK(yes_id_ != no_id_, "judge: the answer words \"", options_.yes, "\" and \"",
              options_.no, "\" start with the same token ", yes_id_,
              ", so their probabilities cannot be told apart");
}

Judge::~Judge() = default;

std::vector<int64_t> Judge::prompt_ids(const Image& image, const std::string& prompt) const {
  NoGradGuard no_grad;
  const std::vector<int64_t> codes =
      cli::understanding_codes(*image_tokenizer_, image, grid_h_, grid_w_);
  std::vector<int64_t> ids = cli::understanding_prompt(*text_tokenizer_, info_, grid_h_, grid_w_,
                                                       codes, judge_question(options_, prompt));
  XOMNI_CHECK(model_.max_positions <= 0 || int64_t(ids.size()) <= model_.max_positions,
              "judge: the question for prompt \"", prompt, "\" is ", ids.size(),
              " tokens with the image, beyond the model's ", model_.max_positions,
              " positions; shorten the prompt or the question template");
  return ids;
}

std::vector<JudgeScore> Judge::score(const std::vector<Image>& images,
                                     const std::vector<std::string>& prompts) const {
  XOMNI_CHECK(images.size() == prompts.size(), "judge: ", images.size(), " images but ",
              prompts.size(), " prompts");
  NoGradGuard no_grad;
  std::vector<std::vector<int64_t>> rows;
  for (size_t i = 0; i < images.size(); ++i) rows.push_back(prompt_ids(images[i], prompts[i]));
  // Rows of equal length run together (no padding, so no row sees another's tokens or pads).
  std::vector<size_t> order(rows.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return rows[a].size() < rows[b].size(); });
  std::vector<JudgeScore> out(rows.size());
  for (size_t first = 0; first < order.size();) {
    const size_t len = rows[order[first]].size();
    size_t n = 0;
    while (first + n < order.size() && int64_t(n) < options_.batch &&
           rows[order[first + n]].size() == len)
      ++n;
    std::vector<int64_t> flat;
    flat.reserve(n * len);
    for (size_t r = 0; r < n; ++r)
      flat.insert(flat.end(), rows[order[first + r]].begin(), rows[order[first + r]].end());
    plugins::BackboneInputs in;
    in.mode = plugins::LogitMode::text;
    const Tensor logits =
        model_.lm->logits(Tensor::from_vector(flat, {int64_t(n), int64_t(len)}), in);
    XOMNI_CHECK(logits.dim() == 3 && model_.lm->vocab_start() == 0 &&
                    logits.size(2) >= info_.text_vocab_size,
                "judge: the backbone's text logits are not full rows over the text vocabulary");
    // The full softmax of the next token; image columns are closed in text mode.
    Tensor last = slice(logits, 1, int64_t(len) - 1, int64_t(len)).contiguous().to(DType::f32);
    last = reshape(last, {int64_t(n), last.size(2)});
    const Tensor logp = log_softmax(last, 1).contiguous();
    const float* lp = logp.data<float>();
    const int64_t width = logp.size(1);
    for (size_t r = 0; r < n; ++r) {
      const double ly = lp[int64_t(r) * width + yes_id_], ln = lp[int64_t(r) * width + no_id_];
      JudgeScore& s = out[order[first + r]];
      s.p_yes = float(std::exp(ly));
      s.p_no = float(std::exp(ln));
      // P(yes) / (P(yes) + P(no)) in the log domain: finite when both underflow.
      s.yes_share = float(1.0 / (1.0 + std::exp(ln - ly)));
    }
    first += n;
  }
  return out;
}

}  // namespace xomni::judge
