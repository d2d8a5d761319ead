// The step model's bytes per collective (jobs/plan, predict_comm) against what the trainer's
// communicators pass in one profiled training step (the profiler's comm.* rows, which record the
// same bytes CommStats counts: all-reduce buffer, reduce-scatter input, all-gather output, each
// message), per operation kind, on every rank, for dp=2, tp=2 (with and without sequence
// parallelism), pp=2 (also interleaved, 2 chunks a rank), cp=2, ZeRO-1 and recompute. The
// end-of-step vote runs after the profiled window, so the model's "world" group is left out of the
// sum.
#include <gtest/gtest.h>

#include <map>

#include "lm/lm_stage.h"
#include "lm_equivalence.h"
#include "plan/step_model.h"
#include "xomni/core/tensor/profiler.h"
#include "xomni/parallel/mpi_comm.h"

using namespace xomni;
using namespace xomni::test;

namespace {

std::string job_text(const std::string& root, const std::string& shards, const std::string& name,
                     const std::string& model_extra, const std::string& parallel, int layers) {
  return "[run]\nname = \"" + name + "\"\ndir = \"" + root +
         "\"\nseed = 5\n[model]\nvocab_size = 48\nhidden_size = 32\nintermediate_size = 64\n"
         "num_hidden_layers = " +
         std::to_string(layers) +
         "\nnum_attention_heads = 8\nnum_key_value_heads = 4\n"
         "tie_word_embeddings = false\n" +
         model_extra + "[data]\ntrain = \"" + shards +
         "\"\n[train]\nsteps = 2\nbatch_size = 4\nseq_len = 16\ngrad_accum = 2\n"
         "log_every = 1000\ngrad_clip = 1.0\nprofile_steps = 1\n"
         "[optimizer]\nlearning_rate = 1e-2\n[schedule]\nkind = \"constant\"\n[parallel]\n" +
         parallel;
}

// Bytes per operation kind, send_recv split back into its send and receive (equal sizes here).
std::map<std::string, double> measured_bytes() {
  std::map<std::string, double> out;
  for (const profiler::OpStat& s : profiler::stats()) {
    if (s.name.rfind("comm.", 0) != 0) continue;
    std::string op = s.name.substr(5);
    if (op == "send_recv") {
      out["send"] += s.bytes / 2;
      out["recv"] += s.bytes / 2;
      continue;
    }
    out[op] += s.bytes;
  }
  return out;
}

std::map<std::string, double> predicted_bytes(const std::string& text, int rank) {
  const plan::PlanJob job = plan::plan_job_from_toml(text, "<test>");
  const auto doc = Config::parse(text, "<test>", train::lm_job_schema());
  const train::TrainerOptions o = train::parse_trainer_options(doc);
  const parallel::Layout layout = parallel::resolve_layout(o.parallel.requested, 2, "<test>");
  std::map<std::string, double> out;
  for (const plan::CollectiveBytes& c :
       plan::predict_comm(job, layout, parallel::coord_of(layout, rank))) {
    if (c.group == "world") continue;
    out[parallel::comm_op_name(c.op)] += double(c.bytes);
  }
  return out;
}

TEST(PlanCommBytes, ModelEqualsTheCommunicatorsBytes) {
  if (mpi_size() != 2) GTEST_SKIP() << "runs at 2 ranks";
  auto world = world_comm();
  const auto root = shared_fresh_dir("plan_comm");
  const std::string shards = tiny_shards(root);
  struct Case {
    const char* name;
    std::string model, parallel;
    int layers = 2;
  };
  const Case cases[] = {
      {"dp2", "", "dp = 2\n"},
      {"dp2_zero1", "", "dp = 2\ndistributed_optimizer = true\n"},
      {"tp2", "", "tp = 2\n"},
      {"tp2_sp", "", "tp = 2\nsequence_parallel = true\n"},
      {"tp2_recompute", "checkpoint_layers = true\n", "tp = 2\n"},
      {"pp2", "", "pp = 2\n"},
      {"cp2", "", "cp = 2\n"},
      {"pp2_v2", "", "pp = 2\nvirtual_stages = 2\n", 4},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string text = job_text(root.string(), shards, c.name, c.model, c.parallel, c.layers);
    train::run_lm_training(Config::parse(text, "<test>", train::lm_job_schema()), -1, world.get());
    const std::map<std::string, double> got = measured_bytes();
    const std::map<std::string, double> want = predicted_bytes(text, world->rank());
    EXPECT_FALSE(got.empty()) << "the profiled step logged no communication";
    for (const auto& [op, bytes] : want) {
      const auto it = got.find(op);
      EXPECT_EQ(it == got.end() ? 0.0 : it->second, bytes) << op << " on rank " << world->rank();
    }
    for (const auto& [op, bytes] : got) {
      if (op == "barrier") continue;
      EXPECT_TRUE(want.count(op)) << op << " logged " << bytes << " bytes the model lacks";
    }
  }
}

}  // namespace
