// xomni report study RUN_ROOT --out DIR: the X-Omni study's report from a run root of `xomni
// pipeline` (one seed, or several seed folders): the claims answered with numbers, tables of every
// number, PNG plots and image grids, as DIR/report.md and a self-contained DIR/report.html.
#include "cmd_report_study.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>

#include "cli.h"
#include "cmd_report.h"
#include "xomni/core/tensor/error.h"

namespace xomni::cli::report {
namespace {

using Value = std::function<double(const Study&)>;

// A fall of RL's clean share below SFT's larger than this (both at CFG 1, means over the seeds)
// flags a likely reward exploit: the study's exploiting policy fell from 0.95 to 0.75 (docs/RL.md),
// a clean RL run from 0.95 to 0.90.
constexpr double kExploitCleanDrop = 0.1;
// A clean share at CFG 1 below this says a stage's scene images are mostly colour the prompts did
// not ask for (clean renders score 1, the study's SFT models about 0.94, its sign-trained codec's
// 0.25, docs/STUDY.md): the checker's pass rate then counts shapes found in clutter.
constexpr double kClutteredClean = 0.5;

// A table cell: one seed "0.145"; several "0.145 (0.120-0.170) [0.120 / 0.170]", the mean, the
// min-max range and each seed's value; "not run" when no seed has it.
std::string cell(const std::vector<Study>& seeds, const Value& f, const char* format = "%.3f") {
  const Stat s = stat_of(seeds, f);
  std::string out = format_stat(s, format);
  if (s.n == 0 || seeds.size() <= 1) return out;
  out += " [";
  for (size_t i = 0; i < s.per_seed.size(); ++i)
    out += (i ? " / " : "") + format_number(s.per_seed[i], format);
  return out + "]";
}

Block heading(int level, const std::string& text) {
  return {Block::kHeading, level, text};
}
Block paragraph(const std::string& text) {
  return {Block::kParagraph, 0, text};
}
Block table(std::vector<std::string> header, std::vector<std::vector<std::string>> rows,
            size_t label_columns) {
  Block b{Block::kTable};
  b.numeric.assign(header.size(), true);
  for (size_t i = 0; i < label_columns && i < header.size(); ++i) b.numeric[i] = false;
  b.header = std::move(header);
  b.rows = std::move(rows);
  return b;
}

const EvalResults& eval_of(const Study& s, const std::string& stage) {
  return s.evals.at(stage);
}

// Columns S2 | SFT | RL of one quantity of each eval.
std::vector<std::string> per_stage(const std::vector<Study>& seeds,
                                   const std::function<double(const EvalResults&)>& f,
                                   const char* format = "%.3f") {
  std::vector<std::string> out;
  for (int i = 0; kEvalStages[i]; ++i) {
    const std::string stage = kEvalStages[i];
    out.push_back(cell(
        seeds, [&](const Study& s) { return f(eval_of(s, stage)); }, format));
  }
  return out;
}

std::vector<std::string> row(std::vector<std::string> labels, std::vector<std::string> values) {
  labels.insert(labels.end(), values.begin(), values.end());
  return labels;
}

const GenerationScores* at_cfg(const EvalResults& e, double cfg) {
  const auto it = e.generation.find(cfg);
  return it == e.generation.end() ? nullptr : &it->second;
}

std::string seeds_note(const std::vector<Study>& seeds) {
  if (seeds.size() <= 1) return "";
  std::string labels;
  for (const Study& s : seeds) labels += (labels.empty() ? "" : " / ") + s.label;
  return "Several seeds: each number is the mean over the seeds that measured it, then the "
         "min-max range in brackets, then each seed's value in square brackets (" +
         labels + "); plots show the mean with min-max whiskers or a min-max band.";
}

void section_claims(std::vector<Block>& doc, const std::vector<Study>& seeds) {
  doc.push_back(heading(2, "Claims"));
  doc.push_back(paragraph(
      "The paper's four claims (issue 17, \"How it is checked\"), answered from the numbers below "
      "with the claims' own thresholds. Claim 1 compares the mean RL reward over the last tenth "
      "of the RL steps with the SFT best-of-N level at N = G, the RL group size. Claims 3 and 4 "
      "are at CFG 1 (no guidance). Understanding \"within 2 points\" means |RL - SFT| <= 0.02 in "
      "VQA accuracy."));
  std::vector<std::vector<std::string>> rows;
  for (const Claim& c : check_claims(seeds))
    rows.push_back({c.title, "**" + c.verdict + "**", c.evidence});
  doc.push_back(table({"claim", "verdict", "the numbers"}, rows, 3));
}

void section_stages(std::vector<Block>& doc, const std::vector<Study>& seeds) {
  doc.push_back(heading(2, "Stages and wall time"));
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> order;
  for (const Study& s : seeds)
    for (const StageInfo& st : s.stages)
      if (std::find(order.begin(), order.end(), st.name) == order.end()) order.push_back(st.name);
  auto find = [](const Study& s, const std::string& name) -> const StageInfo* {
    for (const StageInfo& st : s.stages)
      if (st.name == name) return &st;
    return nullptr;
  };
  for (const std::string& name : order) {
    std::set<std::string> kinds, statuses;
    for (const Study& s : seeds)
      if (const StageInfo* st = find(s, name)) kinds.insert(st->kind), statuses.insert(st->status);
    auto join = [](const std::set<std::string>& v) {
      std::string out;
      for (const std::string& x : v) out += (out.empty() ? "" : " / ") + (x.empty() ? "-" : x);
      return out;
    };
    rows.push_back({name, join(kinds), join(statuses),
                    cell(
                        seeds,
                        [&](const Study& s) {
                          const StageInfo* st = find(s, name);
                          return st ? st->wall_s : kNone;
                        },
                        "%.1f")});
  }
  rows.push_back({"all stages", "", "",
                  cell(
                      seeds,
                      [](const Study& s) {
                        double sum = 0;
                        bool any = false;
                        for (const StageInfo& st : s.stages)
                          if (std::isfinite(st.wall_s)) sum += st.wall_s, any = true;
                        return any ? sum : kNone;
                      },
                      "%.1f")});
  doc.push_back(table({"stage", "kind", "status", "wall time (s)"}, rows, 3));
}

void section_settings(std::vector<Block>& doc, const std::vector<Study>& seeds) {
  doc.push_back(heading(2, "Settings"));
  const Study& s = seeds[0];
  std::string text = "Scale `" + (s.scale.empty() ? std::string("-") : s.scale) + "`";
  if (seeds.size() == 1) {
    text += ", seed " + format_number(s.seed, "%g") + ".";
  } else {
    text += "; seeds";
    for (const Study& x : seeds) text += " " + x.label + " (" + format_number(x.seed, "%g") + ")";
    text += ". The settings below are " + s.label + "'s";
    for (size_t i = 1; i < seeds.size(); ++i)
      if (seeds[i].settings != s.settings) text += "; " + seeds[i].label + "'s differ";
    text += ".";
  }
  doc.push_back(paragraph(text));
  std::vector<std::vector<std::string>> rows;
  for (const auto& [stage, kv] : s.settings)
    for (const auto& [key, value] : kv) rows.push_back({stage, key, value});
  if (rows.empty())
    doc.push_back(paragraph("study.json has no settings."));
  else
    doc.push_back(table({"stage", "setting", "value"}, rows, 2));
}

void add_picture(std::vector<Block>& doc, const Pictures& p, const std::string& file) {
  for (const auto* list : {&p.plots, &p.grids})
    for (const Picture& pic : *list)
      if (pic.file == file) {
        Block b{Block::kImage};
        b.text = pic.caption + " (" + std::to_string(pic.width) + " x " +
                 std::to_string(pic.height) + " px)";
        b.image = "plots/" + file;
        doc.push_back(b);
        return;
      }
}

Value metric_last(const std::string& stage, const std::string& key) {
  return [stage, key](const Study& s) {
    const auto m = s.metrics.find(stage);
    if (m == s.metrics.end()) return kNone;
    const auto c = m->second.find(key);
    return c == m->second.end() || c->second.empty() ? kNone : c->second.rbegin()->second;
  };
}

void section_training(std::vector<Block>& doc, const std::vector<Study>& seeds, const Pictures& p) {
  doc.push_back(heading(2, "Training"));
  std::vector<std::vector<std::string>> rows;
  for (const StageInfo& st : seeds[0].stages) {
    bool any = false;
    for (const Study& s : seeds)
      any = any || (s.metrics.count(st.name) && s.metrics.at(st.name).count("loss"));
    if (!any) continue;
    rows.push_back({st.name,
                    cell(
                        seeds,
                        [&](const Study& s) {
                          const auto m = s.metrics.find(st.name);
                          if (m == s.metrics.end() || !m->second.count("loss")) return kNone;
                          return double(m->second.at("loss").rbegin()->first);
                        },
                        "%.0f"),
                    cell(seeds, metric_last(st.name, "loss"), "%.4f"),
                    cell(seeds, metric_last(st.name, "eval_loss"), "%.4f")});
  }
  if (rows.empty()) {
    doc.push_back(paragraph("No training stage has metrics: not run."));
    return;
  }
  add_picture(doc, p, "loss.png");
  doc.push_back(table({"stage", "last step", "final loss", "final eval loss"}, rows, 1));
}

void section_rl(std::vector<Block>& doc, const std::vector<Study>& seeds, const Pictures& p) {
  doc.push_back(heading(2, "Reinforcement learning"));
  auto curve = [](const Study& s, const std::string& key) -> const Curve* {
    const auto m = s.metrics.find("rl");
    if (m == s.metrics.end()) return nullptr;
    const auto c = m->second.find(key);
    return c == m->second.end() || c->second.empty() ? nullptr : &c->second;
  };
  bool any = false;
  for (const Study& s : seeds) any = any || curve(s, "reward");
  if (!any) {
    doc.push_back(paragraph("rl: not run (no reward in its metrics.jsonl)."));
  } else {
    add_picture(doc, p, "rl_reward.png");
  }
  std::set<std::string> keys;
  for (const Study& s : seeds)
    if (auto m = s.metrics.find("rl"); m != s.metrics.end())
      for (const auto& [key, c] : m->second)
        if (key == "reward" || key.rfind("reward.", 0) == 0 || key == "kl" || key == "entropy")
          keys.insert(key);
  std::vector<std::vector<std::string>> rows, levels;
  for (const std::string& key : keys) {
    auto window_mean = [&, key](bool last) {
      return [&, key, last](const Study& s) {
        const Curve* c = curve(s, key);
        const Curve* r = curve(s, "reward");
        if (!c) return kNone;
        const int64_t w = r ? reward_window(*r) : 1;
        if (last) return tail_mean(*c, w);
        Curve head;
        for (const auto& [step, v] : *c)
          if (int64_t(head.size()) < w) head[step] = v;
        return tail_mean(head, w);
      };
    };
    rows.push_back({key, cell(seeds, window_mean(false)), cell(seeds, window_mean(true))});
  }
  if (!rows.empty())
    doc.push_back(
        table({"metric (mean over)", "the first tenth of the steps", "the last tenth"}, rows, 1));
  levels.push_back({"RL steps", cell(
                                    seeds,
                                    [&](const Study& s) {
                                      const Curve* c = curve(s, "reward");
                                      return c ? double(c->size()) : kNone;
                                    },
                                    "%.0f")});
  levels.push_back(
      {"group size G", cell(
                           seeds, [](const Study& s) { return s.group_size; }, "%.0f")});
  std::set<int64_t> ns;
  for (const Study& s : seeds)
    for (const auto& [n, v] : s.bon) ns.insert(n);
  for (int64_t n : ns)
    levels.push_back({"SFT best-of-" + std::to_string(n) + " (mean best reward)",
                      cell(seeds, [n](const Study& s) {
                        const auto it = s.bon.find(n);
                        return it == s.bon.end() ? kNone : it->second;
                      })});
  if (ns.empty()) levels.push_back({"SFT best-of-N", "not run"});
  doc.push_back(table({"quantity", "value"}, levels, 1));
  if (!seeds[0].group_size_from.empty())
    doc.push_back(paragraph("G from " + seeds[0].group_size_from + "."));
}

void not_run_note(std::vector<Block>& doc, const std::vector<Study>& seeds) {
  std::string missing;
  for (int i = 0; kEvalStages[i]; ++i) {
    size_t absent = 0;
    for (const Study& s : seeds) absent += !eval_of(s, kEvalStages[i]).present;
    if (absent == seeds.size())
      missing += (missing.empty() ? "" : ", ") + std::string("eval-") + kEvalStages[i];
    else if (absent > 0)
      missing += (missing.empty() ? "" : ", ") + std::string("eval-") + kEvalStages[i] + " (" +
                 std::to_string(absent) + " of " + std::to_string(seeds.size()) + " seeds)";
  }
  if (!missing.empty()) doc.push_back(paragraph("Not run: " + missing + "."));
}

// The mean over seeds of a stage's clean share at CFG 1 (NaN where no seed measured it).
double clean_share_at_cfg1(const std::vector<Study>& seeds, const std::string& stage) {
  return stat_of(seeds,
                 [&](const Study& s) {
                   const GenerationScores* g = at_cfg(eval_of(s, stage), 1.0);
                   return g ? g->clean_mean : kNone;
                 })
      .mean;
}

// A warning when RL's images are clearly less clean than SFT's: its pass rates may then come
// from the policy exploiting the checker rather than drawing the scene.
void exploit_warning(std::vector<Block>& doc, const std::vector<Study>& seeds) {
  const double sft = clean_share_at_cfg1(seeds, "sft"), rl = clean_share_at_cfg1(seeds, "rl");
  if (!(rl < sft - kExploitCleanDrop)) return;
  char buf[400];
  std::snprintf(buf, sizeof buf,
                "**Warning: RL's images are less clean than SFT's** (clean share at CFG 1: RL "
                "%.3f against SFT %.3f, a drop of more than %.2f). Part of RL's pass rate may be "
                "the policy exploiting the checker; look at the RL samples before reading it as "
                "better generation.",
                rl, sft, kExploitCleanDrop);
  doc.push_back(paragraph(buf));
}

// A warning for each of SFT and RL whose scene images are mostly clutter in any seed, whatever
// the other stage did: a codec that paints colour everywhere (the study with signs) lowers both,
// and one cluttered seed must not hide in a mean over clean ones.
void clutter_warnings(std::vector<Block>& doc, const std::vector<Study>& seeds) {
  for (const auto& [stage, name] : {std::pair{"sft", "SFT"}, std::pair{"rl", "RL"}}) {
    std::string where;
    for (const Study& s : seeds) {
      const double clean = clean_share_at_cfg1({s}, stage);
      if (!(clean < kClutteredClean)) continue;
      where += (where.empty() ? "" : ", ") + format_number(clean, "%.3f");
      if (seeds.size() > 1) where += " in " + s.label;
    }
    if (where.empty()) continue;
    char buf[500];
    std::snprintf(buf, sizeof buf,
                  "**Warning: %s's scene images are mostly clutter** (clean share at CFG 1: %s, "
                  "below %.2f). The checker's pass rates count shapes it finds in colour the "
                  "prompts did not ask for; look at the samples before reading them as scenes.",
                  name, where.c_str(), kClutteredClean);
    doc.push_back(paragraph(buf));
  }
}

void section_generation(std::vector<Block>& doc, const std::vector<Study>& seeds,
                        const Pictures& p) {
  doc.push_back(heading(2, "Generation: GenEval-like scene prompts"));
  not_run_note(doc, seeds);
  add_picture(doc, p, "geneval.png");
  add_picture(doc, p, "cfg.png");
  std::set<double> cfgs;
  std::set<std::string> categories;
  for (const Study& s : seeds)
    for (const auto& [stage, e] : s.evals)
      for (const auto& [cfg, g] : e.generation) {
        cfgs.insert(cfg);
        for (const auto& [c, r] : g.by_category) categories.insert(c);
      }
  if (cfgs.empty()) {
    doc.push_back(paragraph("No stage has generation results: not run."));
    return;
  }
  std::vector<std::vector<std::string>> rows;
  for (double cfg : cfgs) {
    const std::string g = cfg_key(cfg);
    auto add = [&](const std::string& what, const std::function<double(const GenerationScores&)>& f,
                   const char* format) {
      rows.push_back(row({g, what}, per_stage(
                                        seeds,
                                        [&](const EvalResults& e) {
                                          const GenerationScores* s = at_cfg(e, cfg);
                                          return s ? f(*s) : kNone;
                                        },
                                        format)));
    };
    add(
        "overall", [](const GenerationScores& s) { return s.scene_overall; }, "%.3f");
    add(
        "unseen prompts: overall", [](const GenerationScores& s) { return s.unseen_overall; },
        "%.3f");
    for (const std::string& c : categories)
      add(
          c,
          [c](const GenerationScores& s) {
            const auto it = s.by_category.find(c);
            return it == s.by_category.end() ? kNone : it->second.rate;
          },
          "%.3f");
    add(
        "image free of unasked-for colour (clean share, mean)",
        [](const GenerationScores& s) { return s.clean_mean; }, "%.3f");
    add(
        "prompts scored", [](const GenerationScores& s) { return s.scene_total; }, "%.0f");
    add(
        "unseen prompts scored", [](const GenerationScores& s) { return s.unseen_total; }, "%.0f");
    add(
        "image tokens/s", [](const GenerationScores& s) { return s.image_tokens_per_s; }, "%.1f");
    add(
        "decoded images/s", [](const GenerationScores& s) { return s.decode_images_per_s; },
        "%.2f");
  }
  doc.push_back(table({"CFG", "pass rate", "S2", "SFT", "RL"}, rows, 2));
  doc.push_back(paragraph(
      "The clean share is the mean over the scene images of the share of each image free of "
      "colour the prompt did not ask for (outside the objects the checker matched to it): 1 for "
      "a clean render, low for an image filled with colour until the parser finds the asked-for "
      "shapes somewhere (a reward exploit, docs/RL.md). Read a pass rate together with it."));
  exploit_warning(doc, seeds);
  clutter_warnings(doc, seeds);
}

void section_text(std::vector<Block>& doc, const std::vector<Study>& seeds, const Pictures& p) {
  doc.push_back(heading(2, "Generation: text rendering (OneIG-like short, LongText-like long)"));
  add_picture(doc, p, "text.png");
  std::set<double> cfgs;
  for (const Study& s : seeds)
    for (const auto& [stage, e] : s.evals)
      for (const auto& [cfg, g] : e.generation)
        if (std::isfinite(g.short_total) || std::isfinite(g.long_total) ||
            std::isfinite(g.oneig_score) || std::isfinite(g.longtext_accuracy))
          cfgs.insert(cfg);
  if (cfgs.empty()) {
    doc.push_back(paragraph("No stage has text results: not run."));
    return;
  }
  std::vector<std::vector<std::string>> rows;
  using F = double GenerationScores::*;
  const std::vector<std::tuple<std::string, F, const char*>> metrics = {
      {"OneIG ED (edit distance)", &GenerationScores::ed, "%.3f"},
      {"OneIG CR (completion rate)", &GenerationScores::cr, "%.3f"},
      {"OneIG WAC (word accuracy)", &GenerationScores::wac, "%.3f"},
      {"OneIG text score", &GenerationScores::oneig_score, "%.3f"},
      {"short prompts scored", &GenerationScores::short_total, "%.0f"},
      {"LongText accuracy", &GenerationScores::longtext_accuracy, "%.3f"},
      {"long prompts scored", &GenerationScores::long_total, "%.0f"}};
  for (double cfg : cfgs)
    for (const auto& [what, field, format] : metrics)
      rows.push_back(row({cfg_key(cfg), what}, per_stage(
                                                   seeds,
                                                   [&](const EvalResults& e) {
                                                     const GenerationScores* s = at_cfg(e, cfg);
                                                     return s ? s->*field : kNone;
                                                   },
                                                   format)));
  doc.push_back(table({"CFG", "metric", "S2", "SFT", "RL"}, rows, 2));
}

void section_understanding(std::vector<Block>& doc, const std::vector<Study>& seeds,
                           const Pictures& p) {
  doc.push_back(heading(2, "Understanding: VQA"));
  add_picture(doc, p, "understanding.png");
  std::set<std::string> types, sets;
  bool any = false;
  for (const Study& s : seeds)
    for (const auto& [stage, e] : s.evals) {
      any = any || std::isfinite(e.vqa_accuracy);
      for (const auto& [t, r] : e.vqa_by_type) types.insert(t);
      for (const auto& [t, r] : e.vqa_by_set) sets.insert(t);
    }
  if (!any) {
    doc.push_back(paragraph("No stage has VQA results: not run."));
    return;
  }
  std::vector<std::vector<std::string>> rows;
  rows.push_back(row({"accuracy", "all"},
                     per_stage(seeds, [](const EvalResults& e) { return e.vqa_accuracy; })));
  rows.push_back(row({"questions", "all"},
                     per_stage(
                         seeds, [](const EvalResults& e) { return e.vqa_total; }, "%.0f")));
  for (const auto& [what, names, member] :
       {std::tuple{"question type", &types, &EvalResults::vqa_by_type},
        std::tuple{"set", &sets, &EvalResults::vqa_by_set}})
    for (const std::string& n : *names)
      rows.push_back(row({what, n}, per_stage(seeds, [&, member = member](const EvalResults& e) {
                           const auto it = (e.*member).find(n);
                           return it == (e.*member).end() ? kNone : it->second.rate;
                         })));
  doc.push_back(table({"accuracy by", "", "S2", "SFT", "RL"}, rows, 2));
}

// The codec that every generated image goes through: what it keeps of a held-out scene caps
// what generation can score (docs/CODEC.md).
void section_codec(std::vector<Block>& doc, const std::vector<Study>& seeds) {
  doc.push_back(heading(2, "The image codec on held-out scenes"));
  bool any = false;
  for (const Study& s : seeds) any = any || s.codec.present;
  if (!any) {
    doc.push_back(paragraph("codec-eval: not run."));
    return;
  }
  const auto value = [](double CodecEval::*member) {
    return [member](const Study& s) { return s.codec.present ? s.codec.*member : kNone; };
  };
  std::vector<std::vector<std::string>> rows = {
      {"scenes", cell(seeds, value(&CodecEval::samples), "%.0f")},
      {"decoder sampler steps", cell(seeds, value(&CodecEval::sampler_steps), "%.0f")},
      {"PSNR of the reconstructions (dB)", cell(seeds, value(&CodecEval::psnr_db), "%.2f")},
      {"scene checker on the reconstructions, pass rate",
       cell(seeds, value(&CodecEval::checker_pass_rate))},
      {"codes used (fraction of the codebook)",
       cell(seeds, value(&CodecEval::codes_used_fraction))},
      {"VQA accuracy from the codes (the vq stage's LM)",
       cell(seeds, value(&CodecEval::vqa_accuracy))},
      {"caption -> image retrieval, top-1", cell(seeds, value(&CodecEval::retrieval_top1))}};
  bool text = false;
  for (const Study& s : seeds) text = text || std::isfinite(s.codec.text_samples);
  if (text) {
    rows.push_back({"text images", cell(seeds, value(&CodecEval::text_samples), "%.0f")});
    rows.push_back({"text images: PSNR of the reconstructions (dB)",
                    cell(seeds, value(&CodecEval::text_psnr_db), "%.2f")});
    rows.push_back({"text images: OCR word accuracy, originals",
                    cell(seeds, value(&CodecEval::ocr_original))});
    rows.push_back({"text images: OCR word accuracy, reconstructions",
                    cell(seeds, value(&CodecEval::ocr_reconstructed))});
  }
  std::set<std::string> categories, attributes;
  for (const Study& s : seeds)
    for (const auto& [name, rate] : s.codec.checker_by_category) categories.insert(name);
  for (const std::string& c : categories)
    rows.push_back({"scene checker on the reconstructions: " + c, cell(seeds, [&](const Study& s) {
                      const auto it = s.codec.checker_by_category.find(c);
                      return it == s.codec.checker_by_category.end() ? kNone : it->second;
                    })});
  for (const Study& s : seeds)
    for (const auto& [name, p] : s.codec.code_information) attributes.insert(name);
  for (const std::string& a : attributes)
    for (const auto& [what, member] : {std::pair{"probe", &CodecEval::Probe::probe},
                                       std::pair{"majority guess", &CodecEval::Probe::majority}})
      rows.push_back(
          {"single codes: " + a + ", " + what, cell(seeds, [&, member = member](const Study& s) {
             const auto it = s.codec.code_information.find(a);
             return it == s.codec.code_information.end() ? kNone : it->second.*member;
           })});
  doc.push_back(paragraph(
      "`xomni image eval` of the study's vq tokenizer and decoder on the validation scenes "
      "(codec-eval/results.json). The scene checker's pass rate per GenEval category is what the "
      "codec keeps of a real scene of that category: compare it with the GenEval-like rates above "
      "(a generator can pass it, by finding codes that the decoder renders better than a real "
      "image's). A probe at or below its majority guess means single codes carry nothing of that "
      "attribute (docs/CODEC.md, results.json keys). Text images (codec-eval/text-images) are read "
      "by "
      "Tesseract before and after the round trip: a text the codec cannot carry, generation "
      "cannot render."));
  doc.push_back(table({"quantity", "value"}, rows, 1));
}

void section_samples(std::vector<Block>& doc, const Pictures& p) {
  doc.push_back(heading(2, "Samples"));
  for (const Picture& g : p.grids) add_picture(doc, p, g.file);
  for (const std::string& m : p.missing)
    if (m.find("samples") != std::string::npos || m.find("renders") != std::string::npos)
      doc.push_back(paragraph("Not run: " + m + "."));
}

void section_evaluation(std::vector<Block>& doc, const std::vector<Study>& seeds) {
  doc.push_back(heading(2, "Evaluation settings"));
  const Study& s = seeds[0];
  std::vector<std::vector<std::string>> rows, files;
  for (int i = 0; kEvalStages[i]; ++i) {
    const EvalResults& e = eval_of(s, kEvalStages[i]);
    const std::string stage = std::string("eval-") + kEvalStages[i];
    if (!e.present) {
      rows.push_back({stage, "not run", "", "", "", ""});
      continue;
    }
    std::string cfgs;
    for (const auto& [cfg, g] : e.generation) cfgs += (cfgs.empty() ? "" : ", ") + cfg_key(cfg);
    rows.push_back({stage, e.checkpoint.empty() ? "-" : "`" + e.checkpoint + "`",
                    e.grid.empty() ? "-" : e.grid, e.sampler.empty() ? "-" : e.sampler,
                    cfgs.empty() ? "-" : cfgs, format_number(e.total_s, "%.1f")});
    for (const PromptFile& f : e.prompt_files)
      files.push_back({stage, "`" + f.path + "`", f.sha256.substr(0, 16),
                       format_number(f.lines, "%.0f"), format_number(f.scored, "%.0f"),
                       std::to_string(f.errors)});
  }
  if (seeds.size() > 1) doc.push_back(paragraph("As " + s.label + " ran them."));
  doc.push_back(
      table({"eval", "checkpoint", "grid", "sampler", "CFG scales", "wall time (s)"}, rows, 5));
  if (!files.empty())
    doc.push_back(
        table({"eval", "prompt file", "sha256 (first 16)", "lines", "scored", "errors"}, files, 3));
}

std::vector<Block> build(const std::vector<Study>& seeds, const fs::path& root, const Pictures& p) {
  std::vector<Block> doc;
  const Study& s = seeds[0];
  doc.push_back(
      heading(1, "X-Omni study: " + (s.name.empty() ? root.filename().string() : s.name)));
  std::string intro = "Run root `" + root.string() + "`, " + std::to_string(seeds.size()) +
                      (seeds.size() == 1 ? " seed" : " seeds") +
                      ". Written by `xomni report study`. \"not run\" marks a stage or a part "
                      "of an evaluation that the run root does not have.";
  doc.push_back(paragraph(intro));
  if (seeds.size() > 1) doc.push_back(paragraph(seeds_note(seeds)));
  section_claims(doc, seeds);
  section_generation(doc, seeds, p);
  section_text(doc, seeds, p);
  section_understanding(doc, seeds, p);
  section_codec(doc, seeds);
  section_rl(doc, seeds, p);
  section_training(doc, seeds, p);
  section_samples(doc, p);
  section_stages(doc, seeds);
  section_settings(doc, seeds);
  section_evaluation(doc, seeds);
  return doc;
}

void write_text(const fs::path& file, const std::string& text) {
  std::ofstream f(file, std::ios::binary);
  f << text;
  XOMNI_CHECK(f.flush(), "report study: cannot write ", file.string());
}

}  // namespace

const char* const kStudyUsage =
    "usage: xomni report study RUN_ROOT [--out DIR]\n\n"
    "The X-Omni study's report from a run root of `xomni pipeline`: RUN_ROOT/study.json (one\n"
    "seed) or every subfolder of RUN_ROOT with a study.json (several seeds: means with min-max\n"
    "ranges, and each seed's values). Reads the stages' metrics.jsonl, bon/bon.json,\n"
    "eval-{s2,sft,rl}/results.json with their samples and codec-eval/results.json, answers the\n"
    "paper's four claims with the numbers, and writes DIR/report.md, a self-contained\n"
    "DIR/report.html (images inlined) and DIR/plots/*.png (DIR: default RUN_ROOT/report). A\n"
    "missing stage is \"not run\"; a malformed file stops it, naming the file.";

int study(std::vector<std::string> args) {
  std::string out = take_option(args, "--out");
  XOMNI_CHECK(args.size() == 1, "report study: give exactly one run root, got ", args.size(),
              " arguments");
  XOMNI_CHECK(args[0].empty() || args[0][0] != '-', "report study: unknown option '", args[0], "'");
  const fs::path root = args[0];
  if (out.empty()) out = (root / "report").string();
  const std::vector<Study> seeds = read_run_root(root);
  const Pictures pictures = write_pictures(seeds, out);
  const std::vector<Block> doc = build(seeds, root, pictures);
  write_text(fs::path(out) / "report.md", render_markdown(doc));
  write_text(fs::path(out) / "report.html", render_html(doc, out, doc[0].text));
  for (const Claim& c : check_claims(seeds))
    std::printf("claim %s: %s\n", c.title.substr(0, c.title.find('.')).c_str(), c.verdict.c_str());
  std::printf("wrote %s/report.md, %s/report.html and %zu pictures in %s/plots\n", out.c_str(),
              out.c_str(), pictures.plots.size() + pictures.grids.size(), out.c_str());
  return 0;
}

}  // namespace xomni::cli::report
