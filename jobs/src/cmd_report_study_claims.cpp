// xomni report study: the paper's four claims (issue 17, "How it is checked") answered from the
// study's numbers. Each rule is the claim's own statement; nothing here is tuned to a result.
// With several seeds a claim is judged on the means over the seeds that measured it, and the
// per-seed values are given beside it.
#include <algorithm>
#include <cmath>

#include "cmd_report_study.h"

namespace xomni::cli::report {
namespace {

const char* const kHolds = "holds";
const char* const kFails = "does not hold";
const char* const kUnmeasured = "not measured";

std::string f3(double v) {
  return format_number(v, "%.3f");
}

std::string per_seed(const std::vector<Study>& seeds, const Stat& s) {
  if (seeds.size() <= 1) return "";
  std::string out = " [per seed:";
  for (size_t i = 0; i < seeds.size(); ++i)
    out += (i ? ", " : " ") + seeds[i].label + " " + f3(s.per_seed[i]);
  return out + "]";
}

std::string described(const std::vector<Study>& seeds, const Stat& s) {
  return format_stat(s) + per_seed(seeds, s);
}

const Curve* rl_reward(const Study& s) {
  const auto m = s.metrics.find("rl");
  if (m == s.metrics.end()) return nullptr;
  const auto r = m->second.find("reward");
  return r == m->second.end() || r->second.empty() ? nullptr : &r->second;
}

double bon_at_g(const Study& s) {
  if (!std::isfinite(s.group_size)) return kNone;
  const auto it = s.bon.find(int64_t(s.group_size));
  return it == s.bon.end() ? kNone : it->second;
}

Claim claim_reward(const std::vector<Study>& seeds) {
  Claim c{"1. The RL reward passes SFT best-of-N (N = G) during RL (paper Fig. 2)", kUnmeasured,
          ""};
  const Stat final_reward = stat_of(seeds, [](const Study& s) {
    const Curve* r = rl_reward(s);
    return r ? tail_mean(*r, reward_window(*r)) : kNone;
  });
  const Stat level = stat_of(seeds, bon_at_g);
  if (final_reward.n == 0) {
    c.evidence = "the rl stage's metrics.jsonl has no reward (rl not run).";
    return c;
  }
  if (level.n == 0) {
    const Study& s = seeds[0];
    std::string have;
    for (const auto& [n, v] : s.bon) have += (have.empty() ? "" : ", ") + std::to_string(n);
    c.evidence = !std::isfinite(s.group_size)
                     ? "the rl group size G is not known (study.json settings.rl.group_size)."
                 : s.bon.empty()
                     ? "bon/bon.json is missing (best-of-N not run)."
                     : "bon/bon.json has N = " + have +
                           " but not N = G = " + std::to_string(int64_t(s.group_size)) + ".";
    return c;
  }
  const int64_t g = int64_t(seeds[0].group_size);
  c.verdict = final_reward.mean > level.mean ? kHolds : kFails;
  c.evidence = "RL reward, mean of the last tenth of the steps: " + described(seeds, final_reward) +
               "; SFT best-of-" + std::to_string(g) + ": " + described(seeds, level) + ".";
  // Where the running mean first passed the level, per seed (informational).
  std::string first;
  for (const Study& s : seeds) {
    const Curve* r = rl_reward(s);
    const double lv = bon_at_g(s);
    if (!r || !std::isfinite(lv)) continue;
    std::string at = "never";
    for (const auto& [step, v] : running_mean(*r, reward_window(*r)))
      if (v > lv) {
        at = "step " + std::to_string(step);
        break;
      }
    first += (first.empty() ? "" : "; ") + (seeds.size() > 1 ? s.label + ": " : "") + at;
  }
  c.evidence += " The running mean (window: a tenth of the steps) first passes it: " + first + ".";
  return c;
}

Stat scene_at(const std::vector<Study>& seeds, const std::string& stage, double cfg) {
  return stat_of(seeds, [&](const Study& s) {
    const GenerationScores* g = generation_at(s, stage, cfg);
    return g ? g->scene_overall : kNone;
  });
}

Claim claim_cfg(const std::vector<Study>& seeds) {
  Claim c{
      "2. After RL, CFG no longer helps: GenEval-like at CFG 1.0 is within 0.02 of the best CFG "
      "scale, while before RL (SFT) the best scale beats 1.0 (paper Fig. 6)",
      kUnmeasured, ""};
  std::string missing;
  struct Side {
    double at1 = kNone, best = kNone, best_cfg = kNone, best_other = kNone, best_other_cfg = kNone;
    std::string curve;
  };
  auto side = [&](const std::string& stage, const char* name) {
    Side s;
    for (double cfg : cfg_scales(seeds, stage)) {
      const double v = scene_at(seeds, stage, cfg).mean;
      if (!std::isfinite(v)) continue;
      s.curve += (s.curve.empty() ? "" : ", ") + cfg_key(cfg) + ": " + f3(v);
      if (cfg == 1) s.at1 = v;
      if (!(v <= s.best)) s.best = v, s.best_cfg = cfg;
      if (cfg != 1 && !(v <= s.best_other)) s.best_other = v, s.best_other_cfg = cfg;
    }
    if (!std::isfinite(s.at1) || !std::isfinite(s.best_other))
      missing += std::string(missing.empty() ? "" : "; ") + name +
                 (s.curve.empty() ? ": not run" : " has only CFG " + s.curve) + "";
    return s;
  };
  const Side before = side("sft", "SFT"), after = side("rl", "RL");
  if (!missing.empty()) {
    c.evidence = "needs scene scores at CFG 1 and another scale for SFT and RL: " + missing + ".";
    return c;
  }
  const double gap = after.best - after.at1;
  const bool after_ok = gap <= 0.02, before_ok = before.best_other > before.at1;
  c.verdict = after_ok && before_ok ? kHolds : kFails;
  c.evidence = "scene overall by CFG" + std::string(seeds.size() > 1 ? " (mean over seeds)" : "") +
               ": SFT " + before.curve + "; RL " + after.curve + ". After RL the best scale (" +
               cfg_key(after.best_cfg) + ") is " + f3(gap) + " above CFG 1 (" +
               (after_ok ? "within" : "more than") +
               " 0.02); before RL the best scale other than 1 (" + cfg_key(before.best_other_cfg) +
               ", " + f3(before.best_other) + ") " + (before_ok ? "beats" : "does not beat") +
               " CFG 1 (" + f3(before.at1) + ").";
  return c;
}

Claim claim_text(const std::vector<Study>& seeds, double cfg) {
  Claim c{
      "3. RL improves text rendering: OneIG text score and LongText accuracy rise (paper "
      "Table 1)",
      kUnmeasured, ""};
  auto text = [&](const std::string& stage, double GenerationScores::*field) {
    return stat_of(seeds, [&](const Study& s) {
      const GenerationScores* g = generation_at(s, stage, cfg);
      return g ? g->*field : kNone;
    });
  };
  const Stat oneig_sft = text("sft", &GenerationScores::oneig_score),
             oneig_rl = text("rl", &GenerationScores::oneig_score),
             long_sft = text("sft", &GenerationScores::longtext_accuracy),
             long_rl = text("rl", &GenerationScores::longtext_accuracy);
  c.evidence = "at CFG " + cfg_key(cfg) + ": OneIG text score SFT " + described(seeds, oneig_sft) +
               ", RL " + described(seeds, oneig_rl) + "; LongText accuracy SFT " +
               described(seeds, long_sft) + ", RL " + described(seeds, long_rl) + ".";
  if (oneig_sft.n && oneig_rl.n && long_sft.n && long_rl.n)
    c.verdict = oneig_rl.mean > oneig_sft.mean && long_rl.mean > long_sft.mean ? kHolds : kFails;
  return c;
}

Claim claim_generation(const std::vector<Study>& seeds, double cfg) {
  Claim c{
      "4. After RL: GenEval-like overall >= 0.60 without CFG, and understanding within 2 "
      "points of SFT (paper Tables 2-4)",
      kUnmeasured, ""};
  const Stat overall = scene_at(seeds, "rl", cfg);
  const Stat unseen = stat_of(seeds, [&](const Study& s) {
    const GenerationScores* g = generation_at(s, "rl", cfg);
    return g ? g->unseen_overall : kNone;
  });
  auto vqa = [&](const char* stage) {
    return stat_of(seeds, [&](const Study& s) {
      const auto e = s.evals.find(stage);
      return e == s.evals.end() ? kNone : e->second.vqa_accuracy;
    });
  };
  const Stat vqa_sft = vqa("sft"), vqa_rl = vqa("rl");
  c.evidence = "RL scene overall at CFG " + cfg_key(cfg) + ": " + described(seeds, overall) +
               " (unseen prompts: " + format_stat(unseen) + "); VQA accuracy SFT " +
               described(seeds, vqa_sft) + ", RL " + described(seeds, vqa_rl);
  if (vqa_sft.n && vqa_rl.n) {
    const double diff = 100 * (vqa_rl.mean - vqa_sft.mean);
    c.evidence += ", a difference of " + format_number(diff, "%+.1f") + " points";
  }
  c.evidence += ".";
  if (!overall.n || !vqa_sft.n || !vqa_rl.n) return c;
  const bool generation_ok = overall.mean >= 0.60;
  const bool understanding_ok = std::abs(vqa_rl.mean - vqa_sft.mean) <= 0.02;
  c.verdict = generation_ok && understanding_ok ? kHolds : kFails;
  c.evidence += std::string(" Overall ") + (generation_ok ? "reaches" : "is below") +
                " 0.60; understanding is " + (understanding_ok ? "within" : "not within") +
                " 2 points of SFT.";
  return c;
}

}  // namespace

std::vector<Claim> check_claims(const std::vector<Study>& seeds) {
  // Claims 3 and 4 are about sampling without guidance: CFG 1, or not measured.
  return {claim_reward(seeds), claim_cfg(seeds), claim_text(seeds, 1), claim_generation(seeds, 1)};
}

}  // namespace xomni::cli::report
