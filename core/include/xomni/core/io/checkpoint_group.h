#pragma once
// What a checkpoint written or read by several processes needs from their group. core declares it
// and issues no collective of its own; parallel::CommCheckpointGroup implements it over a
// Communicator, so a checkpoint's collectives are counted, sequenced and time-limited like every
// other one. Includes mpi.h (checkpoint.h only forward-declares the class).
#include <mpi.h>

#include <cstdint>

namespace xomni {

class CheckpointGroup {
 public:
  virtual ~CheckpointGroup() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Collective: every rank's `bytes` bytes at `data` become those of rank `root`.
  virtual void broadcast(void* data, int64_t bytes, int root) = 0;
  // Collective: data[i] becomes the sum over the group of data[i], for i < count.
  virtual void sum(int64_t* data, int64_t count) = 0;
  // The communicator HDF5's MPI-IO file driver opens the file over; what the driver sends on it is
  // its own business, not a collective of this group.
  virtual MPI_Comm mpi_comm() const = 0;
};

}  // namespace xomni
