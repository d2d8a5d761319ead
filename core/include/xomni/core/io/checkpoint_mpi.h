#pragma once
// The MPI communicator handle that the parallel CheckpointWriter and CheckpointReader take.
#include <mpi.h>

#include "xomni/core/io/checkpoint.h"

namespace xomni {

struct MpiComm {
  MPI_Comm comm;
};

}  // namespace xomni
