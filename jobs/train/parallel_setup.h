#pragma once
// The parallel side of a training stage: the process groups a job's [parallel] options ask for,
// and the gradient bookkeeping that tensor, context and data parallelism add to a step.
#include <memory>
#include <utility>
#include <vector>

#include "train/options.h"
#include "xomni/core/nn/nn.h"
#include "xomni/parallel/distributed_optimizer.h"
#include "xomni/parallel/mpi_comm.h"
#include "xomni/parallel/tensor_parallel.h"
#include "xomni/parallel/topology.h"

namespace xomni::train {

struct ParallelSetup {
  std::unique_ptr<parallel::MpiCommunicator> world;
  std::unique_ptr<parallel::ProcessGroups> groups;
  parallel::TensorParallel tp;
  std::vector<int64_t> pp_layers;        // as in ParallelOptions
  int virtual_stages = 1;                // as in ParallelOptions
  std::string where;                     // "<job file> [parallel]", for messages
  double checkpoint_timeout_s = 3600.0;  // as in ParallelOptions

  const parallel::Layout& layout() const { return groups->layout(); }
  const parallel::Coord& coord() const { return groups->coord(); }
  bool is_rank0() const { return world->rank() == 0; }
};

// Initialises MPI if needed (a plain process is a one-rank world), resolves the requested layout
// against the size of `world` (default: the MPI world) and the model, and builds the groups.
// Throws naming the number that is wrong; `where` prefixes messages ("job.toml [parallel]").
ParallelSetup setup_parallel(const ParallelOptions& options, const parallel::ModelDims& model,
                             const std::string& where,
                             const parallel::MpiCommunicator* world = nullptr);

// Sums the gradients that each tensor-parallel rank computed from part of the data (norm weights
// under sequence parallelism) over the tp group.
void reduce_partial_grads(const std::vector<nn::ParamInfo>& params, const ParallelSetup& par);

// Which parameters' gradients this rank adds to the global norm: every tensor-parallel piece,
// but a replica only on tp rank 0 (the others hold the same values).
std::vector<bool> counted_in_norm(const std::vector<nn::ParamInfo>& params,
                                  const ParallelSetup& par);

// The global L2 norm of the reduced gradients over every rank's share.
double global_grad_norm(const parallel::DistributedOptimizer& opt, const std::vector<bool>& counted,
                        const ParallelSetup& par);

// The sum of `value` over the ranks that split the data (dp x cp; every rank gets it).
double sum_over_data(double value, const ParallelSetup& par);

// This rank's pipeline stage: its blocks [first, last) of `n_layers` (the pp_layers option, or
// an even split). With virtual_stages = v the split is over pp*v virtual stages and `chunk` picks
// this rank's virtual stage chunk*pp + rank.
std::pair<int64_t, int64_t> stage_layers(int64_t n_layers, const ParallelSetup& par, int chunk = 0);

}  // namespace xomni::train
