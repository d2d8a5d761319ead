// xomni timeline: draws the pipeline schedule's per-rank timeline (JSONL from run_1f1b) as a PNG
// and prints the measured bubble fraction.
#include <algorithm>
#include <cstdio>
#include <string>

#include "cli.h"
#include "timeline_plot.h"

namespace xomni::cli {
namespace {

int run(const std::vector<std::string>& argv) {
  std::vector<std::string> args = argv;
  const std::string out = take_option(args, "--out");
  const std::string step_text = take_option(args, "--step");
  const std::string title = take_option(args, "--title");
  XOMNI_CHECK(!out.empty(), "--out FILE.png is required");
  XOMNI_CHECK(!args.empty(), "give at least one timeline .jsonl file");
  std::vector<parallel::TimelineEvent> all;
  for (const std::string& path : args) {
    XOMNI_CHECK(path.rfind("--", 0) != 0, "unknown option '", path, "'");
    for (const auto& e : parallel::read_timeline_jsonl(path)) all.push_back(e);
  }
  XOMNI_CHECK(!all.empty(), "the timeline files hold no events");
  // One step's events: the one asked for, else the last step present.
  int64_t step = all.front().step;
  for (const auto& e : all) step = std::max(step, e.step);
  if (!step_text.empty()) {
    try {
      step = std::stoll(step_text);
    } catch (const std::exception&) {
      throw Error("--step wants an integer, got '" + step_text + "'");
    }
  }
  std::vector<parallel::TimelineEvent> events;
  for (const auto& e : all)
    if (e.step == step) events.push_back(e);
  XOMNI_CHECK(!events.empty(), "no events of step ", step, " in the files");
  // One rank runs one box at a time: overlap means several runs were appended under one step.
  std::sort(events.begin(), events.end(), [](const auto& a, const auto& b) {
    return a.rank != b.rank ? a.rank < b.rank : a.start < b.start;
  });
  for (size_t i = 1; i < events.size(); ++i) {
    const auto &a = events[i - 1], &b = events[i];
    XOMNI_CHECK(a.rank != b.rank || b.start >= a.end - 1e-9, "rank ", b.rank,
                " has overlapping events in step ", step, " (", a.phase, a.micro, " ends at ",
                a.end, " s, ", b.phase, b.micro, " starts at ", b.start,
                " s): were several runs appended to one file under the same step?");
  }
  TimelinePlot opt;
  opt.title = title.empty() ? std::string(has_chunks(events) ? "interleaved " : "") +
                                  "1F1B schedule, step " + std::to_string(step)
                            : title;
  const double bubble = plot_timeline_png(events, out, opt);
  std::printf("%s: %zu events, measured bubble %.4f\n", out.c_str(), events.size(), bubble);
  return 0;
}

const Register reg({"timeline", "draw a pipeline schedule timeline (JSONL) as a PNG",
                    "usage: xomni timeline TIMELINE.jsonl... --out schedule.png [--step N]\n"
                    "                      [--title TEXT]\n\n"
                    "Reads the per-rank timeline files the pipeline schedule writes (one JSON\n"
                    "object per line: rank, stage, micro, chunk, phase F/B, start, end in\n"
                    "seconds, step) and draws one row per rank with a box per forward and\n"
                    "backward, labelled with the micro-batch (micro/chunk under interleaved\n"
                    "1F1B). Plots the last step present unless --step is given;\n"
                    "the title shows the measured bubble fraction, which is also printed.",
                    run});

}  // namespace
}  // namespace xomni::cli
