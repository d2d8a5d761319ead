// End-to-end check of parallel::Deadline: a blocking MPI call that no Communicator watches (as
// HDF5's MPI-IO collectives are) stops the job when a rank never joins it. First a guarded
// barrier that everyone joins in time (the guard must stay silent), then rank 1 sleeps far past
// the deadline while rank 0 blocks in a plain MPI_Barrier under a 1 s Deadline: rank 0's timer
// aborts the job with a message naming the scope and the setting (ctest matches it; the exit
// status is non-zero by design, and the test's TIMEOUT catches a hang).
#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "xomni/parallel/comm.h"
#include "xomni/parallel/deadline.h"

using namespace xomni::parallel;

int main() {
  ensure_mpi_initialized();
  {
    Deadline in_time("the first barrier", 5.0, "probe.timeout_s");
    MPI_Barrier(MPI_COMM_WORLD);
  }
  std::printf("rank %d: the first barrier finished in time\n", world_rank());
  std::fflush(stdout);
  if (world_rank() == 1) std::this_thread::sleep_for(std::chrono::seconds(60));
  Deadline late("the blocked barrier", 1.0, "probe.timeout_s");
  MPI_Barrier(MPI_COMM_WORLD);
  std::printf("rank %d: passed the blocked barrier (the deadline did not fire)\n", world_rank());
  return 0;
}
