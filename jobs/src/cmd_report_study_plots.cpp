// xomni report study: the PNG plots (losses, RL reward, GenEval-like categories, text scores, the
// CFG curve, understanding) and the image grids (SFT beside RL per evaluation prompt). Several
// seeds: the mean, with the min..max range as whiskers or a band.
#include <cairo.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <set>

#include "cmd_report_study.h"
#include "plot_bars.h"
#include "plot_png.h"
#include "xomni/core/tensor/error.h"

namespace xomni::cli::report {
namespace {

constexpr int kPanelW = 400, kPanelH = 300, kColumns = 3;
constexpr int kBarW = 900, kBarH = 420;

// The seeds' curves as one series: the mean at each step, and (several seeds) min and max.
Series mean_series(const std::vector<const Curve*>& curves, const std::string& label) {
  Series s{label, {}, {}, false, true};
  std::set<int64_t> steps;
  for (const Curve* c : curves)
    for (const auto& [step, v] : *c) steps.insert(step);
  for (int64_t step : steps) {
    std::vector<double> vs;
    for (const Curve* c : curves)
      if (auto it = c->find(step); it != c->end() && std::isfinite(it->second))
        vs.push_back(it->second);
    if (vs.empty()) continue;
    double sum = 0;
    for (double v : vs) sum += v;
    s.x.push_back(double(step));
    s.y.push_back(sum / double(vs.size()));
    if (curves.size() > 1) {
      s.lo.push_back(*std::min_element(vs.begin(), vs.end()));
      s.hi.push_back(*std::max_element(vs.begin(), vs.end()));
    }
  }
  return s;
}

std::vector<const Curve*> curves_of(const std::vector<Study>& seeds, const std::string& stage,
                                    const std::string& key) {
  std::vector<const Curve*> out;
  for (const Study& s : seeds) {
    const auto m = s.metrics.find(stage);
    if (m == s.metrics.end()) continue;
    const auto c = m->second.find(key);
    if (c != m->second.end()) out.push_back(&c->second);
  }
  return out;
}

Picture write_panels(const std::vector<LinePanel>& panels, const fs::path& out,
                     const std::string& file, const std::string& caption) {
  const int cols = std::min<int>(kColumns, int(panels.size()));
  const int rows = (int(panels.size()) + cols - 1) / cols;
  write_line_panels_png(panels, (out / "plots" / file).string(), "report study", cols, kPanelW,
                        kPanelH);
  return {file, caption, cols * kPanelW, rows * kPanelH + (panels[0].series.size() > 1 ? 40 : 0)};
}

void plot_losses(const std::vector<Study>& seeds, const fs::path& out, Pictures& p) {
  std::vector<LinePanel> panels;
  for (const StageInfo& st : seeds[0].stages) {
    const auto train = curves_of(seeds, st.name, "loss");
    if (train.empty()) continue;
    LinePanel panel;
    panel.title = st.name;
    panel.x_label = "step";
    panel.series = {mean_series(train, "training loss"),
                    mean_series(curves_of(seeds, st.name, "eval_loss"), "eval loss")};
    panel.series[1].dots = true;
    panels.push_back(std::move(panel));
  }
  if (panels.empty()) {
    p.missing.push_back("training losses (no stage has a metrics.jsonl with loss lines)");
    return;
  }
  p.plots.push_back(
      write_panels(panels, out, "loss.png", "Training and evaluation loss per stage"));
}

void plot_rl(const std::vector<Study>& seeds, const fs::path& out, Pictures& p) {
  const auto reward = curves_of(seeds, "rl", "reward");
  if (reward.empty()) {
    p.missing.push_back("RL reward (rl not run)");
    return;
  }
  LinePanel main;
  main.title = "RL reward";
  main.x_label = "step";
  main.series.push_back(mean_series(reward, "reward"));
  main.series[0].lo.clear(), main.series[0].hi.clear();  // the running mean carries the range
  main.series[0].line = true;
  // The running mean over a tenth of the steps, the quantity claim 1 compares.
  std::vector<Curve> smooth;
  for (const Curve* c : reward) smooth.push_back(running_mean(*c, reward_window(*c)));
  std::vector<const Curve*> smooth_ptrs;
  for (const Curve& c : smooth) smooth_ptrs.push_back(&c);
  main.series.push_back(mean_series(smooth_ptrs, "running mean (a tenth of the steps)"));
  main.series.back().dots = false;
  const Series& r = main.series[0];
  const double x0 = r.x.front(), x1 = r.x.back();
  for (const auto& [n, v] : seeds[0].bon) {
    const Stat level = stat_of(seeds, [n = n](const Study& s) {
      const auto it = s.bon.find(n);
      return it == s.bon.end() ? kNone : it->second;
    });
    Series line{
        "SFT best-of-" + std::to_string(n), {x0, x1}, {level.mean, level.mean}, false, true};
    line.dashed = true;
    main.series.push_back(line);
  }
  std::vector<LinePanel> panels = {main};
  std::set<std::string> keys;
  for (const Study& s : seeds)
    if (auto m = s.metrics.find("rl"); m != s.metrics.end())
      for (const auto& [key, c] : m->second)
        if (key.rfind("reward.", 0) == 0 || key == "kl" || key == "entropy") keys.insert(key);
  for (const std::string& key : keys) {
    LinePanel panel;
    panel.title = key;
    panel.x_label = "step";
    panel.series = {mean_series(curves_of(seeds, "rl", key), key)};
    panel.series[0].dots = false;
    panel.y_from_zero = key != "entropy";  // rewards, sub-scores and the KL start at 0
    panels.push_back(std::move(panel));
  }
  p.plots.push_back(write_panels(panels, out, "rl_reward.png",
                                 "RL reward per step with the SFT best-of-N levels (dashed), and "
                                 "each sub-score, the KL and the entropy"));
}

// A bar series of one stage: the mean over seeds per group, min/max whiskers for several seeds.
BarSeries bars(const std::vector<Study>& seeds, const std::string& label,
               const std::vector<std::function<double(const Study&)>>& values) {
  BarSeries b{label, {}, {}, {}};
  for (const auto& f : values) {
    const Stat s = stat_of(seeds, f);
    b.value.push_back(s.mean);
    if (seeds.size() > 1) b.lo.push_back(s.lo), b.hi.push_back(s.hi);
  }
  return b;
}

bool any_finite(const BarSeries& b) {
  return std::any_of(b.value.begin(), b.value.end(), [](double v) { return std::isfinite(v); });
}

void plot_geneval(const std::vector<Study>& seeds, double cfg, const fs::path& out, Pictures& p) {
  std::set<std::string> categories;
  for (const Study& s : seeds)
    for (const char* stage : {"sft", "rl"})
      if (const GenerationScores* g = generation_at(s, stage, cfg))
        for (const auto& [c, r] : g->by_category) categories.insert(c);
  BarChart chart;
  chart.title = "GenEval-like pass rate at CFG " + cfg_key(cfg);
  chart.y_label = "pass rate";
  chart.y_max = 1;
  std::vector<std::string> groups(categories.begin(), categories.end());
  groups.push_back("overall");
  groups.push_back("unseen prompts");
  chart.groups = groups;
  for (const auto& [stage, label] :
       std::vector<std::pair<std::string, std::string>>{{"sft", "SFT"}, {"rl", "RL"}}) {
    std::vector<std::function<double(const Study&)>> values;
    for (const std::string& group : groups)
      values.push_back([&, group, stage = stage](const Study& s) {
        const GenerationScores* g = generation_at(s, stage, cfg);
        if (!g) return kNone;
        if (group == "overall") return g->scene_overall;
        if (group == "unseen prompts") return g->unseen_overall;
        const auto it = g->by_category.find(group);
        return it == g->by_category.end() ? kNone : it->second.rate;
      });
    chart.series.push_back(bars(seeds, label, values));
  }
  if (categories.empty() && !any_finite(chart.series[0]) && !any_finite(chart.series[1])) {
    p.missing.push_back("GenEval-like scores (no scene results for SFT or RL at CFG " +
                        cfg_key(cfg) + ")");
    return;
  }
  write_bar_chart_png(chart, (out / "plots" / "geneval.png").string(), "report study", kBarW,
                      kBarH);
  p.plots.push_back({"geneval.png",
                     "GenEval-like pass rate per category, overall and on unseen prompts, SFT vs "
                     "RL at CFG " +
                         cfg_key(cfg),
                     kBarW, kBarH});
}

void plot_text(const std::vector<Study>& seeds, double cfg, const fs::path& out, Pictures& p) {
  BarChart chart;
  chart.title = "Text rendering at CFG " + cfg_key(cfg);
  chart.y_label = "score";
  chart.y_max = 1;
  chart.groups = {"OneIG text score", "LongText accuracy"};
  for (const auto& [stage, label] :
       std::vector<std::pair<std::string, std::string>>{{"sft", "SFT"}, {"rl", "RL"}}) {
    auto field = [&, stage = stage](double GenerationScores::*f) {
      return [&, stage, f](const Study& s) {
        const GenerationScores* g = generation_at(s, stage, cfg);
        return g ? g->*f : kNone;
      };
    };
    chart.series.push_back(
        bars(seeds, label,
             {field(&GenerationScores::oneig_score), field(&GenerationScores::longtext_accuracy)}));
  }
  if (!any_finite(chart.series[0]) && !any_finite(chart.series[1])) {
    p.missing.push_back("text rendering scores (no text results for SFT or RL)");
    return;
  }
  const int w = 640;
  write_bar_chart_png(chart, (out / "plots" / "text.png").string(), "report study", w, kBarH);
  p.plots.push_back({"text.png",
                     "OneIG text score and LongText accuracy, SFT vs RL at CFG " + cfg_key(cfg), w,
                     kBarH});
}

void plot_cfg(const std::vector<Study>& seeds, const fs::path& out, Pictures& p) {
  LinePanel overall, unseen;
  overall.title = "GenEval-like overall by CFG scale";
  unseen.title = "unseen prompts by CFG scale";
  overall.x_label = unseen.x_label = "CFG scale";
  size_t points = 0, unseen_points = 0;
  for (const auto& [stage, label] : std::vector<std::pair<std::string, std::string>>{
           {"sft", "before RL (SFT)"}, {"rl", "after RL"}}) {
    Series a{label, {}, {}, true, true}, b = a;
    for (double cfg : cfg_scales(seeds, stage)) {
      for (auto [series, field] : {std::pair{&a, &GenerationScores::scene_overall},
                                   std::pair{&b, &GenerationScores::unseen_overall}}) {
        const Stat s = stat_of(seeds, [&, stage = stage, field = field](const Study& st) {
          const GenerationScores* g = generation_at(st, stage, cfg);
          return g ? g->*field : kNone;
        });
        series->x.push_back(cfg);
        series->y.push_back(s.mean);
        if (seeds.size() > 1) series->lo.push_back(s.lo), series->hi.push_back(s.hi);
        (series == &a ? points : unseen_points) += s.n > 0;
      }
    }
    overall.series.push_back(a);
    unseen.series.push_back(b);
  }
  if (points == 0) {
    p.missing.push_back("the CFG curve (no scene results for SFT or RL)");
    return;
  }
  overall.y_from_zero = unseen.y_from_zero = true;
  // The unseen-prompt panel only where an eval scored unseen prompts.
  std::vector<LinePanel> panels = {overall};
  if (unseen_points > 0) panels.push_back(unseen);
  const int w = int(panels.size()) * 480, h = 400 + 40;
  write_line_panels_png(panels, (out / "plots" / "cfg.png").string(), "report study",
                        int(panels.size()), 480, 400);
  p.plots.push_back(
      {"cfg.png", "GenEval-like overall against the CFG scale, before and after RL", w, h});
}

void plot_understanding(const std::vector<Study>& seeds, const fs::path& out, Pictures& p) {
  std::set<std::string> types;
  std::vector<std::string> stages;
  for (int i = 0; kEvalStages[i]; ++i) {
    bool any = false;
    for (const Study& s : seeds) {
      const EvalResults& e = s.evals.at(kEvalStages[i]);
      any = any || std::isfinite(e.vqa_accuracy);
      for (const auto& [t, r] : e.vqa_by_type) types.insert(t);
    }
    if (any) stages.push_back(kEvalStages[i]);
  }
  if (stages.empty()) {
    p.missing.push_back("understanding (no stage's VQA was evaluated)");
    return;
  }
  BarChart chart;
  chart.title = "Understanding: VQA accuracy per evaluated stage";
  chart.y_label = "accuracy";
  chart.y_max = 1;
  chart.groups = {"overall"};
  chart.groups.insert(chart.groups.end(), types.begin(), types.end());
  for (const std::string& stage : stages) {
    std::vector<std::function<double(const Study&)>> values;
    for (const std::string& group : chart.groups)
      values.push_back([&, group](const Study& s) {
        const EvalResults& e = s.evals.at(stage);
        if (group == "overall") return e.vqa_accuracy;
        const auto it = e.vqa_by_type.find(group);
        return it == e.vqa_by_type.end() ? kNone : it->second.rate;
      });
    std::string label = stage;
    for (char& ch : label) ch = char(std::toupper(static_cast<unsigned char>(ch)));
    chart.series.push_back(bars(seeds, label, values));
  }
  write_bar_chart_png(chart, (out / "plots" / "understanding.png").string(), "report study", kBarW,
                      kBarH);
  p.plots.push_back({"understanding.png",
                     "VQA accuracy overall and per question type, per evaluated stage", kBarW,
                     kBarH});
}

// Word-wraps `s` into lines no wider than `width` at `size`; at most `max_lines` (the last one
// ends in "..." when cut).
std::vector<std::string> wrap(cairo_t* cr, const std::string& s, double size, double width,
                              size_t max_lines) {
  cairo_set_font_size(cr, size);
  auto fits = [&](const std::string& t) {
    cairo_text_extents_t ext;
    cairo_text_extents(cr, t.c_str(), &ext);
    return ext.x_advance <= width;
  };
  std::vector<std::string> lines;
  std::string line, word;
  bool cut = false;
  auto push_word = [&] {
    if (word.empty()) return;
    const std::string joined = line.empty() ? word : line + " " + word;
    if (fits(joined) || line.empty()) {
      line = joined;
    } else {
      lines.push_back(line);
      line = word;
    }
    word.clear();
  };
  for (char ch : s + " ") {
    if (ch == ' ' || ch == '\n') {
      push_word();
    } else {
      word += ch;
    }
  }
  if (!line.empty()) lines.push_back(line);
  if (lines.size() > max_lines) lines.resize(max_lines), cut = true;
  for (size_t i = 0; i < lines.size(); ++i) {  // a word wider than the box, or the cut end
    std::string& l = lines[i];
    const bool ellipsis = !fits(l) || (cut && i + 1 == lines.size());
    if (!ellipsis) continue;
    while (!fits(l + "...") && l.size() > 1) l.pop_back();
    l += "...";
  }
  return lines;
}

// Draws the PNG at `file` fitted into the box (x, y, w, h), keeping its aspect; pixels stay
// sharp when scaled up. A missing or unreadable file draws a grey box and warns.
void draw_image(cairo_t* cr, const fs::path& file, double x, double y, double w, double h) {
  cairo_surface_t* img = cairo_image_surface_create_from_png(file.c_str());
  if (cairo_surface_status(img) != CAIRO_STATUS_SUCCESS) {
    std::fprintf(stderr, "report study: warning: cannot read the sample %s: %s\n", file.c_str(),
                 cairo_status_to_string(cairo_surface_status(img)));
    cairo_surface_destroy(img);
    cairo_set_source_rgb(cr, 0.85, 0.85, 0.85);
    cairo_rectangle(cr, x, y, w, h);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    text_at(cr, x + w / 2, y + h / 2, "missing", 12, true);
    return;
  }
  const double iw = cairo_image_surface_get_width(img), ih = cairo_image_surface_get_height(img);
  const double scale = std::min(w / iw, h / ih);
  cairo_save(cr);
  cairo_translate(cr, x + (w - iw * scale) / 2, y + (h - ih * scale) / 2);
  cairo_scale(cr, scale, scale);
  cairo_set_source_surface(cr, img, 0, 0);
  cairo_pattern_set_filter(cairo_get_source(cr),
                           scale >= 2 ? CAIRO_FILTER_NEAREST : CAIRO_FILTER_GOOD);
  cairo_paint(cr);
  cairo_restore(cr);
  cairo_surface_destroy(img);
}

// One row per prompt: its text, then each side's image with its verdict (scene) or what OCR read
// (text) underneath.
Picture write_grid(const std::vector<std::pair<const Sample*, const Sample*>>& rows, bool text,
                   const fs::path& out, const std::string& file, const std::string& caption) {
  const double prompt_w = 300, box_w = text ? 240 : 160, box_h = text ? 96 : 128, pad = 10;
  const double label_h = text ? 48 : 18, row_h = box_h + label_h + 2 * pad, header_h = 30;
  const int width = int(prompt_w + 2 * (box_w + 2 * pad));
  const int height = int(header_h + row_h * double(rows.size()));
  Canvas c(width, height, "report study");
  cairo_t* cr = c.cr;
  cairo_set_source_rgb(cr, 0, 0, 0);
  text_aligned(cr, pad, 20, "prompt", 13, 0);
  text_aligned(cr, prompt_w + pad + box_w / 2, 20, "SFT", 13, 0.5);
  text_aligned(cr, prompt_w + 3 * pad + box_w * 1.5, 20, "RL", 13, 0.5);
  for (size_t i = 0; i < rows.size(); ++i) {
    const double y = header_h + row_h * double(i);
    cairo_set_source_rgb(cr, 0.85, 0.85, 0.85);
    cairo_set_line_width(cr, 1);
    cairo_move_to(cr, 0, y);
    cairo_line_to(cr, width, y);
    cairo_stroke(cr);
    const Sample* any = rows[i].first ? rows[i].first : rows[i].second;
    cairo_set_source_rgb(cr, 0, 0, 0);
    double ty = y + pad + 14;
    for (const std::string& l : wrap(cr, any->prompt, 13, prompt_w - 2 * pad, 5)) {
      text_aligned(cr, pad, ty, l, 13, 0);
      ty += 17;
    }
    if (!any->category.empty()) {
      cairo_set_source_rgb(cr, 0.4, 0.4, 0.4);
      text_aligned(cr, pad, ty + 2, any->category, 11, 0);
    }
    for (int side = 0; side < 2; ++side) {
      const Sample* s = side == 0 ? rows[i].first : rows[i].second;
      const double x = prompt_w + pad + side * (box_w + 2 * pad);
      if (!s) {
        cairo_set_source_rgb(cr, 0.45, 0.45, 0.45);
        text_at(cr, x + box_w / 2, y + pad + box_h / 2, "not run", 12, true);
        continue;
      }
      draw_image(cr, s->png, x, y + pad, box_w, box_h);
      const double ly = y + pad + box_h + 14;
      if (!text) {
        if (s->pass >= 0) {
          set_colour(cr, s->pass ? 0x2ca02c : 0xd62728);
          text_aligned(cr, x + box_w / 2, ly, s->pass ? "pass" : "fail", 12, 0.5);
        }
        continue;
      }
      cairo_set_source_rgb(cr, 0, 0, 0);
      const std::string read = "OCR: " + (s->ocr_text.empty() ? "(nothing)" : s->ocr_text);
      double oy = ly;
      for (const std::string& l : wrap(cr, read, 11, box_w, 2)) {
        text_aligned(cr, x, oy, l, 11, 0);
        oy += 14;
      }
      std::string scores;  // the text checker's sub-scores of this image, as given
      for (const auto& [key, v] : s->sub_scores)
        scores += (scores.empty() ? "" : ", ") + key + " " + format_number(v, "%.2f");
      if (!scores.empty()) {
        cairo_set_source_rgb(cr, 0.4, 0.4, 0.4);
        text_aligned(cr, x, oy, scores, 10, 0);
      }
    }
  }
  c.write_png((out / "plots" / file).string());
  return {file, caption, width, height};
}

void grids(const std::vector<Study>& seeds, double cfg, const fs::path& out, Pictures& p) {
  const Study& s = seeds[0];
  const std::vector<Sample> sft = read_samples(s.evals.at("sft"), cfg),
                            rl = read_samples(s.evals.at("rl"), cfg);
  const std::string from = seeds.size() > 1 ? " (" + s.label + ", CFG " + cfg_key(cfg) + ")"
                                            : " (CFG " + cfg_key(cfg) + ")";
  for (const bool text : {false, true}) {
    const char* task = text ? "text" : "scene";
    const size_t limit = text ? 8 : 12;
    // SFT's order decides the selection; RL's sample of the same (set, index) goes beside it.
    const std::vector<Sample>& lead = sft.empty() ? rl : sft;
    const std::vector<Sample>& other = sft.empty() ? sft : rl;
    std::vector<std::pair<const Sample*, const Sample*>> rows;
    for (const Sample& a : lead) {
      if (a.task != task) continue;
      const Sample* b = nullptr;
      for (const Sample& o : other)
        if (o.set == a.set && o.index == a.index) b = &o;
      rows.push_back(sft.empty() ? std::pair{b, &a} : std::pair{&a, b});
      if (rows.size() == limit) break;
    }
    if (rows.empty()) {
      p.missing.push_back(std::string(text ? "text renders" : "scene samples") +
                          " (no samples for SFT or RL at CFG " + cfg_key(cfg) + ")");
      continue;
    }
    p.grids.push_back(
        write_grid(rows, text, out, text ? "samples_text.png" : "samples_scene.png",
                   text ? "Text prompts: SFT beside RL with what OCR read" + from
                        : "Scene prompts: SFT beside RL with the checker's verdict" + from));
  }
}

}  // namespace

Pictures write_pictures(const std::vector<Study>& seeds, const fs::path& out) {
  std::error_code ec;
  fs::create_directories(out / "plots", ec);
  XOMNI_CHECK(!ec && fs::is_directory(out / "plots"), "report study: cannot make the folder ",
              (out / "plots").string(), ": ", ec ? ec.message() : "a file is in the way");
  Pictures p;
  const double cfg = main_cfg(seeds);
  plot_losses(seeds, out, p);
  plot_rl(seeds, out, p);
  plot_geneval(seeds, cfg, out, p);
  plot_text(seeds, cfg, out, p);
  plot_cfg(seeds, out, p);
  plot_understanding(seeds, out, p);
  grids(seeds, cfg, out, p);
  return p;
}

}  // namespace xomni::cli::report
