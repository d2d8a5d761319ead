#include "lm_parallel.h"

#include <cmath>
#include <string>

#include "xomni/core/autograd.h"

namespace xomni::train {

ParallelSetup setup_parallel(const Config& cfg, const parallel::ModelDims& dims,
                             const parallel::MpiCommunicator* world) {
  parallel::ensure_mpi_initialized();
  parallel::CommOptions options;
  options.timeout_s = cfg.get_float("parallel.timeout_s");
  ParallelSetup par;
  if (world) {
    MPI_Comm dup = MPI_COMM_NULL;
    XOMNI_CHECK(MPI_Comm_dup(world->handle(), &dup) == MPI_SUCCESS, "MPI_Comm_dup failed");
    par.world = std::make_unique<parallel::MpiCommunicator>(dup, "world", options);
  } else {
    par.world = parallel::mpi_world(options);
  }
  const std::string where = cfg.source() + " [parallel]";
  parallel::Layout requested;
  requested.tp = int(cfg.get_int("parallel.tp"));
  requested.cp = int(cfg.get_int("parallel.cp"));
  requested.pp = int(cfg.get_int("parallel.pp"));
  requested.dp = int(cfg.get_int("parallel.dp"));
  const parallel::Layout layout = parallel::resolve_layout(requested, par.world->size(), where);
  XOMNI_CHECK(layout.cp == 1 && layout.pp == 1, where, ": cp=", layout.cp, " and pp=", layout.pp,
              " are not supported by the LM stage yet (context and pipeline parallelism come "
              "with the \"Parallel II\" work); set both to 1");
  parallel::check_model_fits(layout, dims, where);
  par.groups = std::make_unique<parallel::ProcessGroups>(*par.world, layout);
  par.tp.comm = &par.groups->tp();
  par.tp.sequence_parallel = cfg.get_bool("parallel.sequence_parallel") && layout.tp > 1;
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
  // ZeRO-1 splits the reduced gradient over dp; tensor parallelism splits it over tp.
  if (opt.sharded()) par.groups->dp().all_reduce(sq);
  if (par.tp.size() > 1) par.groups->tp().all_reduce(sq);
  return std::sqrt(sq.item());
}

double sum_over_dp(double value, const ParallelSetup& par) {
  Tensor t = Tensor::full({1}, value, DType::f64);
  if (par.layout().dp > 1) par.groups->dp().all_reduce(t);
  return t.item();
}

}  // namespace xomni::train
