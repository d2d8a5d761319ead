#include "train/parallel_setup.h"

#include <cmath>
#include <string>

#include "xomni/core/tensor/autograd.h"
#include "xomni/parallel/pipeline.h"

namespace xomni::train {

ParallelSetup setup_parallel(const ParallelOptions& options, const parallel::ModelDims& dims,
                             const std::string& where, const parallel::MpiCommunicator* world) {
  parallel::ensure_mpi_initialized();
  parallel::CommOptions comm_options;
  comm_options.timeout_s = options.timeout_s;
  ParallelSetup par;
  if (world) {
    MPI_Comm dup = MPI_COMM_NULL;
    XOMNI_CHECK(MPI_Comm_dup(world->handle(), &dup) == MPI_SUCCESS, "MPI_Comm_dup failed");
    par.world = std::make_unique<parallel::MpiCommunicator>(dup, "world", comm_options);
  } else {
    par.world = parallel::mpi_world(comm_options);
  }
  const parallel::Layout layout =
      parallel::resolve_layout(options.requested, par.world->size(), where);
  parallel::check_model_fits(layout, dims, where, options.virtual_stages);
  const int64_t virtual_stages = int64_t(layout.pp) * options.virtual_stages;
  XOMNI_CHECK(
      options.pp_layers.empty() || int64_t(options.pp_layers.size()) == virtual_stages, where,
      ": pp_layers has ", options.pp_layers.size(), " entries but pp=", layout.pp,
      " x virtual_stages=", options.virtual_stages, " makes ", virtual_stages,
      " (virtual) pipeline stages; give one entry per virtual stage, in virtual-stage order");
  par.groups = std::make_unique<parallel::ProcessGroups>(*par.world, layout);
  par.tp.comm = &par.groups->tp();
  par.tp.sequence_parallel = options.sequence_parallel && layout.tp > 1;
  par.pp_layers = options.pp_layers;
  par.virtual_stages = options.virtual_stages;
  par.where = where;
  par.checkpoint_timeout_s = options.checkpoint_timeout_s;
  return par;
}

void reduce_partial_grads(const std::vector<nn::ParamInfo>& params, const ParallelSetup& par) {
  if (par.tp.size() == 1) return;
  for (const nn::ParamInfo& p : params) {
    if (!p.sharding.partial_grad || !p.tensor.grad().defined()) continue;
    Tensor g = p.tensor.grad().contiguous();
    par.tp.comm->all_reduce(g);
    Tensor param = p.tensor;
    param.set_grad(g);
  }
}

std::vector<bool> counted_in_norm(const std::vector<nn::ParamInfo>& params,
                                  const ParallelSetup& par) {
  std::vector<bool> counted;
  for (const nn::ParamInfo& p : params)
    counted.push_back(p.sharding.sharded() || par.tp.rank() == 0);
  return counted;
}

double global_grad_norm(const parallel::DistributedOptimizer& opt, const std::vector<bool>& counted,
                        const ParallelSetup& par) {
  Tensor sq = Tensor::full({1}, opt.local_grad_sq(counted), DType::f64);
  // ZeRO-1 splits the reduced gradient over dp x cp, tensor parallelism over tp, the pipeline
  // over its stages.
  if (opt.sharded()) par.groups->dp_cp().all_reduce(sq);
  if (par.tp.size() > 1) par.groups->tp().all_reduce(sq);
  if (par.layout().pp > 1) par.groups->pp().all_reduce(sq);
  return std::sqrt(sq.item());
}

double sum_over_data(double value, const ParallelSetup& par) {
  Tensor t = Tensor::full({1}, value, DType::f64);
  if (par.layout().dp * par.layout().cp > 1) par.groups->dp_cp().all_reduce(t);
  return t.item();
}

std::pair<int64_t, int64_t> stage_layers(int64_t n_layers, const ParallelSetup& par, int chunk) {
  const int p = par.layout().pp, v = par.virtual_stages;
  XOMNI_CHECK(chunk >= 0 && chunk < v, par.where, ": model chunk ", chunk, " of ", v);
  const auto ranges = parallel::split_layers(n_layers, p * v, par.pp_layers, par.where);
  return ranges[size_t(chunk * p + par.coord().pp)];
}

}  // namespace xomni::train
