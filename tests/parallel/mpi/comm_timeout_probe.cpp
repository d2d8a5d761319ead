// End-to-end check that a rank skipping a collective stops the job with an error naming the
// collective instead of hanging: rank 1 skips all_reduce #3 and goes on to a barrier; the others
// time out after 1 s, and whoever times out first aborts the job with its message (ctest matches
// "collective #3 all_reduce" in the output; the exit status is non-zero by design).
#include <chrono>
#include <cstdio>
#include <thread>

#include "xomni/parallel/mpi_comm.h"

using namespace xomni;
using namespace xomni::parallel;

int main() {
  try {
    ensure_mpi_initialized();
    CommOptions opts;
    opts.timeout_s = 1.0;
    auto world = mpi_world(opts);
    Tensor t = Tensor::full({4}, 1.0, DType::f32);
    world->all_reduce(t);                          // #0
    world->barrier();                              // #1
    world->all_reduce(t);                          // #2
    if (world->rank() != 1) world->all_reduce(t);  // #3, skipped by rank 1
    world->barrier();                              // rank 1's #3
    std::fprintf(stderr, "rank %d: the job went on past the skipped collective\n", world->rank());
    return 0;
  } catch (const CommTimeout& e) {
    abort_job(e.what(), 3);
  } catch (const std::exception& e) {
    // Not the failure under test: give a rank that timed out time to report first.
    std::fprintf(stderr, "rank %d: unexpected error: %s\n", world_rank(), e.what());
    std::this_thread::sleep_for(std::chrono::seconds(5));
    abort_job(e.what(), 4);
  }
}
