#pragma once
// Prompt sets: the RL training prompt pool and the fixed evaluation sets (GenEval-like scenes,
// short and long text rendering, VQA), each prompt with the metadata a reward or metric checks
// (scene metadata for the `scene` reward, {"text": ...} for the `ocr` reward). Everything is a
// pure function of its seed; the evaluation sets use fixed seeds, so they are the same on every
// machine and run. `xomni data prompts --out DIR` writes them as JSONL.
#include <cstdint>
#include <string>
#include <vector>

namespace xomni::world {

struct Prompt {
  std::string set;       // "train", "geneval", "text_short", "text_long", "vqa_text", "vqa_scene"
  std::string task;      // "scene" or "text" (generation), "vqa" (answer a question on an image)
  std::string category;  // GenEval category, text bucket ("short"/"long"), or for VQA the
                         // image's generator ("text"/"scene")
  std::string text;      // the generation prompt, or the question
  // Generation: the sample's metadata (scene.h / text_image.h schema). VQA: {"answer": ...,
  // "image": {"generator", "seed", "index", "category"|"bucket", "size"}, "metadata": {...}}, the
  // image being generate_scene / generate_text_image of those arguments.
  std::string metadata_json;
};

// The aspect (width / height) of the image a generation prompt asks for: a text prompt's
// bucket's size (256x64 for "short" and any other bucket, 512x256 for "long"), square for scenes
// and everything else.
double image_aspect(const Prompt& prompt);

// Documented sizes of the evaluation sets.
inline constexpr int64_t kGenEvalPerCategory = 50;  // x 6 categories = 300
inline constexpr int64_t kTextShortEvalSize = 100;
inline constexpr int64_t kTextLongEvalSize = 50;
inline constexpr int64_t kVqaTextEvalSize = 100;
inline constexpr int64_t kVqaSceneEvalSize = 120;  // 20 per category
// The seed every evaluation set derives from; training pools should use another seed.
inline constexpr uint64_t kEvalSeed = 0x0E7A15E7ull;
// Scenes in the evaluation sets are rendered at this size (the scene checker's default).
inline constexpr int64_t kEvalSceneSize = 64;

// `count` generation prompts drawn from `seed`: scenes (GenEval categories in turn) and text
// (short and long buckets), text with probability `text_fraction`.
std::vector<Prompt> training_prompts(uint64_t seed, int64_t count, double text_fraction = 0.5);

// The evaluation sets by name: "geneval", "text_short", "text_long", "vqa_text", "vqa_scene".
const std::vector<std::string>& eval_set_names();
std::vector<Prompt> eval_set(const std::string& name);  // throws an Error for an unknown name

// One JSON line: {"set", "task", "category", "prompt", "metadata": {...}} (no newline).
std::string prompt_json_line(const Prompt& prompt);
// Writes DIR/<set>.jsonl for every evaluation set and DIR/train.jsonl (train_count prompts from
// train_seed); returns the files written.
std::vector<std::string> write_prompt_sets(const std::string& dir, uint64_t train_seed,
                                           int64_t train_count);

}  // namespace xomni::world
