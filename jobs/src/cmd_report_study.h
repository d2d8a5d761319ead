#pragma once
// `xomni report study RUN_ROOT --out DIR`: what its files share. A run root as `xomni pipeline`
// writes it is read into one Study per seed (cmd_report_study_read.cpp); the plots and image grids
// (cmd_report_study_plots.cpp), the claims (cmd_report_study_claims.cpp) and the document
// (cmd_report_study.cpp, rendered to Markdown and HTML by cmd_report_study_doc.cpp) are made
// from those. A number that was not measured is NaN throughout; the report says "not run" there.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace xomni::cli::report {

namespace fs = std::filesystem;

// "Not measured" (a double, unlike kNone, so lambdas returning either deduce one type).
inline constexpr double kNone = std::numeric_limits<double>::quiet_NaN();

struct StageInfo {
  std::string name, kind, status, dir;
  double wall_s = kNone;
};

// One numeric key of a metrics.jsonl over the steps (a later line for a step replaces an earlier).
using Curve = std::map<int64_t, double>;

struct Rate {
  double pass = kNone, total = kNone, rate = kNone;
};

// eval-<stage>/results.json's generation results at one CFG scale.
struct GenerationScores {
  double scene_overall = kNone, scene_total = kNone, unseen_overall = kNone, unseen_total = kNone;
  double clean_mean = kNone;  // image share free of unasked-for colour (absent before 2026-12-07)
  std::map<std::string, Rate> by_category;
  double short_total = kNone, ed = kNone, cr = kNone, wac = kNone, oneig_score = kNone;
  double long_total = kNone, longtext_accuracy = kNone;
  double image_tokens_per_s = kNone, decode_images_per_s = kNone;
};

struct PromptFile {
  std::string path, sha256;
  double lines = kNone, scored = kNone;
  int64_t errors = 0;
};

// One eval-<stage>/results.json; present is false when the folder or the file does not exist.
struct EvalResults {
  bool present = false;
  fs::path dir;
  std::string checkpoint, grid, sampler;
  std::vector<PromptFile> prompt_files;
  std::map<double, GenerationScores> generation;  // by CFG scale
  double vqa_accuracy = kNone, vqa_total = kNone;
  std::map<std::string, Rate> vqa_by_type, vqa_by_set;
  double total_s = kNone;
};

// codec-eval/results.json: `xomni image eval` of the study's tokenizer and decoder on the
// validation scenes (docs/CODEC.md); present = false when the stage did not run.
struct CodecEval {
  bool present = false;
  double samples = kNone;
  double sampler_steps = kNone, psnr_db = kNone;  // at the most sampler steps evaluated
  double checker_pass_rate = kNone, codes_used_fraction = kNone;
  double vqa_accuracy = kNone, retrieval_top1 = kNone;
  struct Probe {
    double probe = kNone, majority = kNone;
  };
  std::map<std::string, Probe> code_information;      // object, colour, shape, background_position
  std::map<std::string, double> checker_by_category;  // GenEval category -> pass rate
  // codec-eval/text-images/results.json, where the study has text images: Tesseract's word
  // accuracy on the originals and on the reconstructions.
  double text_samples = kNone, text_psnr_db = kNone;
  double ocr_original = kNone, ocr_reconstructed = kNone;
};

// One line of eval-<stage>/samples/cfg-<g>/samples.jsonl.
struct Sample {
  std::string set, task, category, prompt, ocr_text;
  int64_t index = 0;
  fs::path png;                              // absolute (the file's path is relative to the eval)
  int pass = -1;                             // scene: 1 pass, 0 fail; -1 not given
  std::map<std::string, double> sub_scores;  // text: ed, cr, wac, ... as given
};

// One seed's study root.
struct Study {
  fs::path root;
  std::string label;  // the seed folder's name, or the study's name for a single root
  std::string name, scale;
  double seed = kNone;
  std::vector<StageInfo> stages;
  std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> settings;
  std::map<std::string, std::map<std::string, Curve>> metrics;  // stage -> key -> curve
  std::map<int64_t, double> bon;                                // N -> mean best reward
  double group_size = kNone;                                    // the rl stage's G
  std::string group_size_from;                                  // where G came from
  std::map<std::string, EvalResults> evals;                     // "s2", "sft", "rl"
  CodecEval codec;
};

// The evaluated stages, in order: s2, sft, rl (then nullptr); each in the folder eval-<stage>.
extern const char* const kEvalStages[];

// Reads RUN_ROOT: one study (it has study.json) or every direct subfolder with a study.json.
// Throws naming the file when one is malformed.
std::vector<Study> read_run_root(const fs::path& root);

// The samples of an eval at CFG scale g (empty when it has none); throws naming the file and line
// when one is malformed.
std::vector<Sample> read_samples(const EvalResults& eval, double cfg);

// "%g" of a CFG scale, as results.json's keys and the sample folders spell it.
std::string cfg_key(double cfg);

// Several seeds' values of one quantity.
struct Stat {
  std::vector<double> per_seed;
  double mean = kNone, lo = kNone, hi = kNone;
  int64_t n = 0;  // seeds that measured it
};
Stat stat_of(const std::vector<Study>& seeds, const std::function<double(const Study&)>& value);
// "0.145" for one seed; "0.145 (0.120-0.170)" (mean, then min-max) for several; "not run" when no
// seed measured it. `format` is printf's, for one double.
std::string format_stat(const Stat& s, const char* format = "%.3f");
std::string format_number(double v, const char* format = "%.3f");  // "-" when NaN

// The mean of a curve's last `window` points; NaN when it is empty.
double tail_mean(const Curve& c, int64_t window);
// The mean of the last `window` points up to each step.
Curve running_mean(const Curve& c, int64_t window);
// The window of claim 1 and of the RL plot's running mean: a tenth of the steps (at least 1).
int64_t reward_window(const Curve& reward);

// An eval's generation scores at a CFG scale; nullptr when that stage or scale was not run.
const GenerationScores* generation_at(const Study& s, const std::string& stage, double cfg);
// The CFG scales any seed evaluated `stage` at, ascending.
std::vector<double> cfg_scales(const std::vector<Study>& seeds, const std::string& stage);

// The CFG scale used where a single one is shown: 1 when it was evaluated, else the smallest.
double main_cfg(const std::vector<Study>& seeds);

// The four claims of the paper, answered from the numbers.
struct Claim {
  std::string title, verdict, evidence;  // verdict: "holds", "does not hold", "not measured"
};
std::vector<Claim> check_claims(const std::vector<Study>& seeds);

// The plots and grids, written to out/plots; each entry: file name (under plots/), caption,
// width and height in pixels. Parts that were not run are left out and named in `missing`.
struct Picture {
  std::string file, caption;
  int width = 0, height = 0;
};
struct Pictures {
  std::vector<Picture> plots, grids;
  std::vector<std::string> missing;
};
Pictures write_pictures(const std::vector<Study>& seeds, const fs::path& out);

// A document both renderers understand: headings, paragraphs, tables and images.
struct Block {
  enum Kind { kHeading, kParagraph, kTable, kImage, kList } kind = kParagraph;
  int level = 0;
  std::string text = {};                            // heading, paragraph, image caption
  std::vector<std::string> header = {};             // table
  std::vector<std::vector<std::string>> rows = {};  // table rows; list items in rows[i][0]
  std::vector<bool> numeric = {};                   // table: right-aligned columns
  std::string image = {};                           // image: path relative to the output folder
};
std::string render_markdown(const std::vector<Block>& doc);
// Self-contained: every image is read from out/<image> and inlined as a data: URI.
std::string render_html(const std::vector<Block>& doc, const fs::path& out,
                        const std::string& title);
std::string base64(const std::string& bytes);

}  // namespace xomni::cli::report
