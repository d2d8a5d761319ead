#pragma once
// The judge reward's model side: a frozen X-Omni checkpoint asked, in understanding mode, whether
// an image shows its prompt. The prompt is the one mm-eval's VQA asks with (jobs/src/mm_prompt.h):
//   <SOM>{h} {w}<IMAGE>{codes}<EOM>{question}\n
// and the answer is read from the next token's distribution (LogitMode::text, full softmax).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mm_model.h"
#include "xomni/core/io/image.h"
#include "xomni/plugins/components.h"

namespace xomni::judge {

struct JudgeOptions {
  std::string checkpoint;  // an xomni training checkpoint of the X-Omni model (required)
  std::string multimodal;  // multimodal.json or its folder; "" = the checkpoint's data's
  // {prompt} is replaced by the (lead-in stripped) prompt. The world's VQA asks presence as
  // "Is there a red circle?" -> "yes" (world/src/scene_text.cpp), the only yes/no form the tiny
  // models have seen, so the question keeps that form with the prompt's object phrase in it.
  std::string question = "Is there {prompt}?";
  // Drops a leading "a photo of ", "an image of ", ... from the prompt, so that GenEval-style
  // prompts ("a photo of a red circle") read as the object phrase the VQA questions name.
  bool strip_lead_in = true;
  // The answer words; their first tokens are read. The world's VQA answers only "yes" to yes/no
  // questions, so the tiny models' tokenizers may split "no" ("n" "o"); single_token = true
  // refuses such words instead.
  std::string yes = "yes", no = "no";
  bool single_token = false;
  int64_t batch = 16;  // most prompts in one forward pass
};

// Key = value lines (TOML basic or literal strings, or bare words; '#' starts a comment line)
// with the keys of JudgeOptions. Throws naming the line on anything else.
JudgeOptions parse_judge_config(const std::string& text);

// The question for `prompt` under `options` (template filled, lead-in stripped).
std::string judge_question(const JudgeOptions& options, const std::string& prompt);

struct JudgeScore {
  float p_yes = 0, p_no = 0, yes_share = 0;
};

class Judge {
 public:
  explicit Judge(JudgeOptions options);
  ~Judge();
  // One score per (image, prompt); prompts of equal token length share a forward pass.
  std::vector<JudgeScore> score(const std::vector<Image>& images,
                                const std::vector<std::string>& prompts) const;
  // The token ids of one question as the model sees it (for tests and tools).
  std::vector<int64_t> prompt_ids(const Image& image, const std::string& prompt) const;
  int64_t yes_id() const { return yes_id_; }
  int64_t no_id() const { return no_id_; }

 private:
  JudgeOptions options_;
  cli::MmModel model_;
  cli::MultimodalInfo info_;
  std::unique_ptr<plugins::TextTokenizer> text_tokenizer_;
  std::unique_ptr<plugins::ImageTokenizer> image_tokenizer_;
  int64_t grid_h_ = 0, grid_w_ = 0;
  int64_t yes_id_ = -1, no_id_ = -1;
};

}  // namespace xomni::judge
