// xomni plan: which parallel layouts of a job fit on N devices and how fast each would run, from
// the step model of jobs/plan (docs/SCALING.md); --calibrate measures this machine for it.
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli.h"
#include "mm_model.h"
#include "plan/calibrate.h"
#include "plan/step_model.h"
#include "rl/rl_job.h"
#include "xomni/core/tensor/error.h"
#include "xomni/parallel/comm.h"
#include "xomni/parallel/mpi_comm.h"

namespace xomni::cli {
namespace {

using plan::PlanCandidate;

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  XOMNI_CHECK(in, "cannot open job file ", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The plan of the job file; an rl job that leaves rl.grid to its data gets the first grid its
// multimodal.json lists, as the rl stage itself does. The grid joins `overrides`, so that a
// calibration builds the same rollouts.
plan::PlanJob plan_job_with_grid(const std::string& path, std::vector<std::string>& overrides) {
  plan::PlanJob job = plan::plan_job_from_toml(read_text(path), path, overrides);
  if (!job.rl.on || job.rl.image_tokens > 0) return job;
  std::vector<std::string> job_overrides;  // the planner's own inputs are not the job's keys
  for (const std::string& o : overrides)
    if (o.rfind("rl.plan_", 0) != 0) job_overrides.push_back(o);
  std::pair<int64_t, int64_t> grid;
  try {
    const rl::RlJob rl_job = rl::parse_rl_job(rl::load_rl_config(path, job_overrides));
    grid = rl_job_multimodal_info(rl_job).grids.front();
  } catch (const Error& e) {
    throw Error(path + ": rl.grid is empty and the job's data does not give it (" + e.what() +
                "); set it, e.g. --set rl.grid=\"8x8\"");
  }
  overrides.push_back("rl.grid=\"" + std::to_string(grid.first) + "x" +
                      std::to_string(grid.second) + "\"");
  std::fprintf(stderr, "rl.grid = %lldx%lld, from the job's multimodal.json\n",
               static_cast<long long>(grid.first), static_cast<long long>(grid.second));
  return plan::plan_job_from_toml(read_text(path), path, overrides);
}

double gib(double bytes) {
  return bytes / (1024.0 * 1024.0 * 1024.0);
}

nlohmann::json memory_json(const plan::MemoryBreakdown& m) {
  return {
      {"parameters", m.parameters},   {"gradients", m.gradients}, {"optimizer", m.optimizer},
      {"activations", m.activations}, {"logits", m.logits},       {"comm_buffers", m.comm_buffers},
      {"runtime", m.runtime},         {"total", m.total()},       {"dominant", m.dominant()}};
}

nlohmann::json candidate_json(const PlanCandidate& c) {
  const plan::StepPrediction& p = c.prediction;
  nlohmann::json comm = nlohmann::json::array();
  for (const plan::CollectiveBytes& b : p.comm)
    comm.push_back({{"group", b.group},
                    {"op", parallel::comm_op_name(b.op)},
                    {"bytes", b.bytes},
                    {"calls", b.calls}});
  return {{"tp", c.layout.tp},
          {"cp", c.layout.cp},
          {"dp", c.layout.dp},
          {"pp", c.layout.pp},
          {"micro_batches", c.job.micro_batches},
          {"micro_batch_size", c.job.batch_size},
          {"recompute", c.job.recompute},
          {"zero1", c.job.zero1},
          {"fits", c.fits},
          {"memory_bytes", memory_json(p.memory)},
          {"peak_stage", p.peak_stage},
          {"step_s", p.step_s},
          {"compute_s", p.compute_s},
          {"bubble_s", p.bubble_s},
          {"comm_s", p.comm_s},
          {"tokens_per_s", p.tokens_per_s},
          {"mfu", p.mfu},
          {"bubble_fraction", p.bubble_fraction},
          {"comm_share", p.comm_share},
          {"comm_stage0", comm}};
}

std::string layout_label(const PlanCandidate& c) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "tp=%d cp=%d dp=%d pp=%d m=%lld%s%s", c.layout.tp, c.layout.cp,
                c.layout.dp, c.layout.pp, static_cast<long long>(c.job.micro_batches),
                c.job.recompute ? " rc" : "", c.job.zero1 ? " z1" : "");
  return buf;
}

int calibrate(const plan::PlanJob& job, const std::string& job_path,
              const std::vector<std::string>& overrides, const std::string& out) {
  parallel::ensure_mpi_initialized();
  auto world = parallel::mpi_world();
  // An rl job's GEMMs are its update's (every rollout of a round); its sampling is timed too.
  plan::Calibration c = plan::calibrate_cpu(job.rl.on ? plan::rl_update_job(job) : job, *world);
  double group_s = 0;
  if (job.rl.on && world->rank() == 0)
    group_s = plan::calibrate_rl_sampling(job, job_path, overrides, c.device);
  if (world->rank() != 0) return 0;
  if (job.rl.on)
    std::printf(
        "rl sampling of one group (%lld rows x %lld image tokens): %.4f s -> %.1f us per "
        "layer and forward call beyond the model\n",
        static_cast<long long>(job.rl.group_size), static_cast<long long>(job.rl.image_tokens),
        group_s, c.device.layer_call_overhead_s * 1e6);
  for (const auto& [name, gflops] : c.gemm_gflops)
    std::printf("GEMM %-8s %8.1f GFLOP/s\n", name.c_str(), gflops);
  std::printf("GEMM mix: %.0f%% of the fp32 peak; memory %.1f GB/s\n", 100.0 * c.device.achievable,
              c.device.memory_bw / 1e9);
  for (const auto& [rows, frac] : c.device.achievable_by_rows)
    std::printf("GEMM mix at %lld rows: %.0f%% of the fp32 peak\n", static_cast<long long>(rows),
                100.0 * frac);
  std::printf("attention fwd+bwd: %.1f GFLOP/s, %.0f%% of the fp32 peak\n", c.attention_flops / 1e9,
              100.0 * c.device.attention_achievable);
  if (world->size() > 1)
    std::printf(
        "all-reduce at %d ranks: 8 B %.1f us, %lld B %.2f ms -> latency %.1f us, %.2f GB/s\n",
        world->size(), c.allreduce_small_s * 1e6, static_cast<long long>(c.allreduce_large_bytes),
        c.allreduce_large_s * 1e3, c.device.intra_latency * 1e6, c.device.intra_bw / 1e9);
  if (world->size() > 1) {
    std::printf("GEMM mix on all %d ranks at once: %.1f GFLOP/s summed -> %.2f cores' worth\n",
                world->size(), c.gemm_together_flops / 1e9, c.device.cores);
    std::printf("memory pass on all %d ranks at once: %.1f GB/s summed -> %.2f ranks' worth\n",
                world->size(), c.memory_together_bw / 1e9, c.device.memory_cores);
  } else
    std::printf("one rank: the link numbers keep their defaults (run under mpirun -np 2)\n");
  const std::string text = plan::device_toml(c.device);
  if (out.empty()) {
    std::printf("%s", text.c_str());
  } else {
    std::ofstream f(out);
    f << text;
    XOMNI_CHECK(f.good(), "cannot write ", out);
    std::printf("wrote %s\n", out.c_str());
  }
  return 0;
}

void write_json(const std::string& path, const nlohmann::json& doc) {
  std::ofstream f(path);
  f << doc.dump(1) << "\n";
  XOMNI_CHECK(f.good(), "cannot write ", path);
}

// --layout: the job as written (its micro-batches, recompute, ZeRO-1) on one layout, with the
// memory breakdown of the fullest rank.
int one_layout(const plan::PlanJob& job, const std::string& text, int devices,
               const plan::DeviceSpec& dev, const std::string& json_path) {
  PlanCandidate c;
  c.layout = plan::parse_layout(text, devices);
  c.job = job;
  c.prediction = plan::predict_step(job, c.layout, dev);
  const double budget = dev.ranks_share_node
                            ? dev.memory_bytes / double(std::min(devices, dev.devices_per_node))
                            : dev.memory_bytes;
  c.fits = c.prediction.memory.total() <= budget;
  const plan::StepPrediction& p = c.prediction;
  const plan::MemoryBreakdown& m = p.memory;
  std::printf("%s on %s: %s\n", job.source.c_str(), dev.name.c_str(), layout_label(c).c_str());
  std::printf(
      "memory per rank (stage %d): %.1f MiB = parameters %.1f + gradients %.1f + "
      "optimizer %.1f + activations %.1f + logits %.1f + buffers %.1f + runtime %.1f%s\n",
      p.peak_stage, m.total() / 1048576.0, m.parameters / 1048576.0, m.gradients / 1048576.0,
      m.optimizer / 1048576.0, m.activations / 1048576.0, m.logits / 1048576.0,
      m.comm_buffers / 1048576.0, m.runtime / 1048576.0, c.fits ? "" : "  (does not fit)");
  std::printf("step %.4g s = compute %.4g + bubble %.4g + comm %.4g; %.4g tokens/s, MFU %.1f%%\n",
              p.step_s, p.compute_s, p.bubble_s, p.comm_s, p.tokens_per_s, 100.0 * p.mfu);
  if (!json_path.empty()) write_json(json_path, candidate_json(c));
  return 0;
}

// A GRPO stage job: the round's phases on dp = the devices (the stage runs tp = cp = pp = 1),
// ZeRO-1 as the job says.
int rl_round(const plan::PlanJob& job, int devices, const plan::DeviceSpec& dev,
             const std::string& json_path) {
  const parallel::Layout l{1, 1, devices, 1};
  const plan::RlStepPrediction p = plan::predict_rl_step(job, l, dev);
  const plan::RlPlan& rl = job.rl;
  std::printf(
      "%s on %s: rl round, dp=%d%s, %lld prompts x %lld rollouts per rank, %lld image "
      "tokens each\n",
      job.source.c_str(), dev.name.c_str(), devices, job.zero1 ? " z1" : "",
      static_cast<long long>(job.batch_size / devices), static_cast<long long>(rl.group_size),
      static_cast<long long>(rl.image_tokens));
  std::printf(
      "round %.4g s = sample %.4g + decode %.4g + logp %.4g + reward wait %.4g + update "
      "%.4g (x%lld)\n",
      p.step_s, p.sample_s, p.decode_s, p.logp_s, p.reward_wait_s, p.update_s,
      static_cast<long long>(rl.updates_per_batch));
  std::printf(
      "memory per rank: %.1f MiB (update step %.1f, KV cache of a group %.1f, reference "
      "%.1f; the decoder, tokenizers and reward plugins not counted)\n",
      p.memory_bytes / 1048576.0, p.update.memory.total() / 1048576.0, p.kv_cache_bytes / 1048576.0,
      p.reference_bytes / 1048576.0);
  if (!json_path.empty())
    write_json(json_path, {{"job", job.source},
                           {"device", dev.name},
                           {"dp", devices},
                           {"rollouts_per_rank", p.rollouts_per_rank},
                           {"sample_s", p.sample_s},
                           {"decode_s", p.decode_s},
                           {"logp_s", p.logp_s},
                           {"reward_wait_s", p.reward_wait_s},
                           {"update_s", p.update_s},
                           {"step_s", p.step_s},
                           {"memory_bytes", p.memory_bytes},
                           {"kv_cache_bytes", p.kv_cache_bytes}});
  return 0;
}

// --sweep-layouts K: the K fastest fitting layouts that keep the job's own micro-batch split (so
// the sweep's batch per node count still holds), one line each in the form
// slurm/scaling_sweep.sh's --layout takes.
int sweep_layouts(const std::vector<PlanCandidate>& all, const plan::PlanJob& job, int64_t k,
                  const std::string& where) {
  int64_t printed = 0;
  for (const PlanCandidate& c : all) {
    if (printed == k) break;
    if (!c.fits || c.job.micro_batches != job.micro_batches) continue;
    std::printf("tp=%d,cp=%d,pp=%d,distributed_optimizer=%s,model.checkpoint_layers=%s\n",
                c.layout.tp, c.layout.cp, c.layout.pp, c.job.zero1 ? "true" : "false",
                c.job.recompute ? "true" : "false");
    ++printed;
  }
  XOMNI_CHECK(printed > 0, where, ": no fitting layout keeps the job's ", job.micro_batches,
              " micro-batch(es) per step (train.grad_accum); see `xomni plan` without ",
              "--sweep-layouts");
  return 0;
}

int run(const std::vector<std::string>& argv) {
  std::vector<std::string> args = argv;
  const std::string devices_text = take_option(args, "--devices");
  const std::string device_name = take_option(args, "--device");
  const std::string device_file = take_option(args, "--device-file");
  const std::string nodes_of = take_option(args, "--nodes-of");
  const std::string batch_text = take_option(args, "--global-batch");
  const std::string top_text = take_option(args, "--top");
  const std::string sweep_text = take_option(args, "--sweep-layouts");
  const std::string json_path = take_option(args, "--json");
  const std::string out = take_option(args, "--out");
  const std::string layout_text = take_option(args, "--layout");
  std::vector<std::string> overrides = take_all(args, "--set");
  const bool do_calibrate = take_flag(args, "--calibrate");
  XOMNI_CHECK(args.size() == 1, args.empty() ? "give one job file (JOB.toml)"
                                             : "unexpected argument '" + args[1] + "'");
  XOMNI_CHECK(args[0].rfind("--", 0) != 0, "unknown option '", args[0], "'");
  const plan::PlanJob job = plan_job_with_grid(args[0], overrides);
  if (do_calibrate) return calibrate(job, args[0], overrides, out);

  XOMNI_CHECK(!devices_text.empty(), "--devices N is required");
  plan::SearchOptions options;
  options.devices = int(parse_int(devices_text, "--devices", 0, 1, 1 << 20));
  options.global_batch = parse_int(batch_text, "--global-batch", 0, 1);
  const int64_t top = parse_int(top_text, "--top", 10, 1);
  XOMNI_CHECK(device_name.empty() || device_file.empty(),
              "give --device or --device-file, not both");
  plan::DeviceSpec dev = device_file.empty()
                             ? plan::device_spec(device_name.empty() ? "h100" : device_name)
                             : plan::read_device_file(device_file);
  if (!nodes_of.empty())
    dev.devices_per_node = int(parse_int(nodes_of, "--nodes-of", 0, 1, 1 << 20));

  if (job.rl.on) {
    XOMNI_CHECK(layout_text.empty() || layout_text == "dp=" + std::to_string(options.devices),
                args[0], ": an rl stage runs tp = cp = pp = 1; its layout is dp = --devices");
    return rl_round(job, options.devices, dev, json_path);
  }
  if (!layout_text.empty()) return one_layout(job, layout_text, options.devices, dev, json_path);
  const std::vector<PlanCandidate> all = plan::enumerate_plans(job, options, dev);
  XOMNI_CHECK(!all.empty(), args[0], ": no valid layout of ", options.devices,
              " devices (tp must divide the heads, KV heads, vocabulary and MLP width and stay "
              "within a node of ",
              dev.devices_per_node, "; dp must divide the batch)");
  if (!all.front().fits) {
    const PlanCandidate& best = all.front();
    const plan::MemoryBreakdown& m = best.prediction.memory;
    char msg[512];
    std::snprintf(msg, sizeof msg,
                  ": no layout fits in %.1f GiB per device (%s); the smallest needs %.1f GiB (%s), "
                  "dominated by %s (%.1f GiB); %s",
                  gib(dev.memory_bytes), dev.name.c_str(), gib(m.total()),
                  layout_label(best).c_str(), m.dominant().c_str(), gib(m.dominant_bytes()),
                  m.dominant() == "activations" || m.dominant() == "logits"
                      ? "use more devices (cp, pp) or a smaller micro-batch (--global-batch)"
                      : "use more devices: tp and pp split the parameters, ZeRO-1 the optimizer");
    throw Error(args[0] + msg);
  }
  if (!sweep_text.empty())
    return sweep_layouts(all, job, parse_int(sweep_text, "--sweep-layouts", 0, 1), args[0]);
  int64_t fitting = 0;
  for (const PlanCandidate& c : all) fitting += c.fits;
  std::printf("%s on %d x %s (%d per node): %zu layouts, %lld fit; tokens per step %lld\n",
              args[0].c_str(), options.devices, dev.name.c_str(), dev.devices_per_node, all.size(),
              static_cast<long long>(fitting),
              static_cast<long long>(all.front().job.tokens_per_step()));
  std::printf("%-34s %10s %10s %12s %6s %7s %6s\n", "layout", "mem GiB", "step s", "tokens/s",
              "MFU", "bubble", "comm");
  for (int64_t i = 0; i < std::min(top, fitting); ++i) {
    const PlanCandidate& c = all[size_t(i)];
    const plan::StepPrediction& p = c.prediction;
    std::printf("%-34s %10.2f %10.4g %12.4g %5.1f%% %6.1f%% %5.1f%%\n", layout_label(c).c_str(),
                gib(p.memory.total()), p.step_s, p.tokens_per_s, 100.0 * p.mfu,
                100.0 * p.bubble_fraction, 100.0 * p.comm_share);
  }
  if (!json_path.empty()) {
    nlohmann::json doc = {{"job", args[0]},
                          {"devices", options.devices},
                          {"device", dev.name},
                          {"device_memory_bytes", dev.memory_bytes},
                          {"devices_per_node", dev.devices_per_node},
                          {"parameters", plan::total_parameters(job.model)},
                          {"layouts", all.size()},
                          {"fitting", fitting}};
    nlohmann::json list = nlohmann::json::array();
    for (const PlanCandidate& c : all)
      if (c.fits) list.push_back(candidate_json(c));
    doc["plans"] = list;
    write_json(json_path, doc);
  }
  return 0;
}

const Register reg(
    {"plan", "rank the parallel layouts of a training job by predicted step time and memory",
     "usage: xomni plan JOB.toml --devices N [--device h100|h200|cpu | --device-file FILE]\n"
     "                  [--nodes-of K] [--global-batch B] [--top K] [--json FILE]\n"
     "                  [--set section.key=value]... [--layout tp=A,cp=B,pp=C]\n"
     "                  [--sweep-layouts K]\n"
     "       mpirun -np 2 xomni plan JOB.toml --calibrate [--out cpu.toml]\n\n"
     "Enumerates every layout of N devices the job can run with (tp dividing the heads, KV\n"
     "heads, vocabulary and MLP width and at most the devices of a node; pp at most the layers;\n"
     "cp; dp), each micro-batch split of the global batch (default: train.batch_size x\n"
     "train.grad_accum sequences), recompute on and off and ZeRO-1 on and off; drops those that\n"
     "do not fit in device memory; prints the fastest K (default 10): memory per device, step\n"
     "time, tokens/s, MFU, the 1F1B bubble and the share of exposed communication. --json\n"
     "writes every fitting plan with its memory breakdown and per-collective bytes.\n"
     "--layout predicts one layout (dp fills the rest) with the job's own micro-batches,\n"
     "recompute and ZeRO-1; --set overrides job keys as in `xomni train`.\n"
     "--sweep-layouts K prints only the K fastest fitting layouts with the job's own\n"
     "micro-batch split, one a line as slurm/scaling_sweep.sh --layout takes them\n"
     "(tp=2,cp=1,pp=1,distributed_optimizer=false,model.checkpoint_layers=false).\n"
     "Devices (default h100): h100 and h200 (spec sheet x stated achievable fractions, 8 per\n"
     "node unless --nodes-of K), cpu (this machine, one thread per rank). --calibrate times\n"
     "the job's GEMMs alone and on every rank at once, a memory pass and (at 2+ ranks)\n"
     "all-reduces, and writes a device file for --device-file. The model and its measured\n"
     "errors: docs/SCALING.md.",
     run});

}  // namespace
}  // namespace xomni::cli
