// xomni reward-worker <rewards.toml>: internal; one scoring process of the RL stage's reward pool
// (jobs/rl/reward_pool.h starts it and speaks its binary protocol over stdin/stdout).
#include <string>
#include <vector>

#include "cli.h"
#include "rl/reward_pool.h"
#include "xomni/core/tensor/error.h"

namespace xomni::cli {
namespace {

int run(const std::vector<std::string>& args) {
  XOMNI_CHECK(args.size() == 1, "usage: xomni reward-worker <rewards.toml> (internal: started by ",
              "the RL stage's reward pool, not by hand)");
  return rl::run_reward_worker(args[0]);
}

const Register reg(
    {"reward-worker", "(internal) a scoring process of the RL stage's reward pool",
     "usage: xomni reward-worker <rewards.toml>\n\n"
     "Internal: the RL stage's reward pool starts this with OMP_THREAD_LIMIT=1 and sends it\n"
     "batches of images over stdin in a binary protocol (jobs/rl/reward_pool.h); it loads the\n"
     "reward job file once and replies with scores on stdout. To score images by hand, use\n"
     "`xomni reward score`.",
     run});

}  // namespace
}  // namespace xomni::cli
