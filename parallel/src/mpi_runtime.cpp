// Process-wide MPI state: initialisation on demand (a program started without mpirun runs as a
// one-rank singleton job), world rank/size, job abort, and the world communicator.
#include <cstdio>
#include <cstdlib>

#include "mpi_comm_impl.h"

namespace xomni::parallel {

bool mpi_usable() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}

void mpi_check(int rc, const std::string& where) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) len = 0;
  throw Error(where + ": MPI error " + std::to_string(rc) + " (" + std::string(text, size_t(len)) +
              ")");
}

namespace {
void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}
}  // namespace

void ensure_mpi_initialized() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  if (initialized) return;
  MPI_Finalized(&finalized);
  XOMNI_CHECK(!finalized, "ensure_mpi_initialized: MPI was already finalised in this process");
  int provided = 0;
  mpi_check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  XOMNI_CHECK(provided >= MPI_THREAD_FUNNELED, "ensure_mpi_initialized: MPI provides thread level ",
              provided, ", xomni needs MPI_THREAD_FUNNELED");
  // Only the initialiser finalises; a host program that initialised MPI keeps that job.
  std::atexit(finalize_at_exit);
}

int world_rank() {
  if (!mpi_usable()) return 0;
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

int world_size() {
  if (!mpi_usable()) return 1;
  int n = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

void abort_job(const std::string& message, int exit_code) {
  std::fprintf(stderr, "[xomni rank %d] %s\n", world_rank(), message.c_str());
  std::fflush(stderr);
  if (mpi_usable()) MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);
}

std::unique_ptr<MpiCommunicator> mpi_world(CommOptions options) {
  ensure_mpi_initialized();
  MPI_Comm dup = MPI_COMM_NULL;
  mpi_check(MPI_Comm_dup(MPI_COMM_WORLD, &dup), "mpi_world: MPI_Comm_dup");
  return std::make_unique<MpiCommunicator>(dup, "world", options);
}

}  // namespace xomni::parallel
