#include "lm_checkpoint.h"

#include <cstdio>

#include "xomni/core/autograd.h"
#include "xomni/core/checkpoint.h"

namespace xomni::train {
namespace {

// Whether this rank writes a parameter's own piece: one data-parallel replica writes, and of a
// tensor-parallel replica only tp rank 0.
bool writes_param(const nn::ParamInfo& p, const ParallelSetup& par) {
  return par.coord().dp == 0 && par.coord().cp == 0 && (p.sharding.sharded() || par.tp.rank() == 0);
}

// The range of parameter `i` whose optimizer state this rank keeps (index into owned_ranges), or
// -1.
int64_t owned_range_of(const parallel::DistributedOptimizer& opt, size_t i) {
  const auto& ranges = opt.owned_ranges();
  for (size_t r = 0; r < ranges.size(); ++r)
    if (ranges[r].param == i) return int64_t(r);
  return -1;
}

// A scalar written by world rank 0 only (the value is the same everywhere).
void write_scalar(CheckpointWriter& w, const std::string& name, int64_t value, bool writer) {
  w.create_tensor(name, {}, DType::i64);
  const Tensor data =
      writer ? Tensor::full({1}, double(value), DType::i64) : Tensor::empty({0}, DType::i64);
  w.write_box_range(name, data, {}, {}, 0);
}

}  // namespace

void save_training_checkpoint(const std::string& dir, int64_t step, const Config& cfg,
                              const std::vector<nn::ParamInfo>& params,
                              const parallel::DistributedOptimizer& opt, const PackedLoader& loader,
                              const ParallelSetup& par, int64_t keep) {
  CheckpointWriter w(dir, step, par.world->checkpoint_comm());
  const Tensor nothing = Tensor::empty({0});
  for (size_t i = 0; i < params.size(); ++i) {
    const nn::ParamInfo& p = params[i];
    const Shape local = p.tensor.shape(), global = p.sharding.global_shape(local);
    const Shape offset = p.sharding.offset(local);
    const std::string name = "model/" + p.name;
    w.create_tensor(name, global, p.tensor.dtype());
    if (writes_param(p, par))
      w.write_slice(name, p.tensor.detach(), offset);
    else
      w.write_slice(name, Tensor::empty(Shape(local.size(), 0), p.tensor.dtype()), offset);

    // Moments: with ZeRO-1 every dp rank writes its own range; otherwise dp rank 0 writes all.
    const int64_t r = owned_range_of(opt, i);
    const bool writer = r >= 0 && (opt.sharded() || par.coord().dp == 0) && par.coord().cp == 0 &&
                        (p.sharding.sharded() || par.tp.rank() == 0);
    for (const char* moment : {"exp_avg", "exp_avg_sq"}) {
      const std::string mname = "optimizer/" + p.name + "." + moment;
      w.create_tensor(mname, global, p.tensor.dtype());
      if (writer) {
        const Tensor data =
            std::string(moment) == "exp_avg" ? opt.exp_avg(size_t(r)) : opt.exp_avg_sq(size_t(r));
        w.write_box_range(mname, data, offset, local, opt.owned_ranges()[size_t(r)].begin);
      } else {
        w.write_box_range(mname, nothing, offset, local, 0);
      }
    }
    write_scalar(w, "optimizer/" + p.name + ".step", opt.param_steps(i), par.is_rank0());
  }
  write_scalar(w, "optimizer/step", opt.steps(), par.is_rank0());
  w.set_data_position("train_loader", loader.state());
  w.set_metadata("layout", par.layout().str());
  w.set_config(cfg.to_toml());
  w.commit();
  if (par.is_rank0()) prune_checkpoints(dir, int(keep));
  par.world->barrier();
}

int64_t restore_training_checkpoint(const std::string& path,
                                    const std::vector<nn::ParamInfo>& params,
                                    parallel::DistributedOptimizer& opt, PackedLoader& loader,
                                    const ParallelSetup& par) {
  CheckpointReader r(path, par.world->checkpoint_comm(), CheckpointVerify::structure);
  NoGradGuard no_grad;
  for (size_t i = 0; i < params.size(); ++i) {
    const nn::ParamInfo& p = params[i];
    const Shape local = p.tensor.shape(), global = p.sharding.global_shape(local);
    const Shape offset = p.sharding.offset(local);
    const std::string name = "model/" + p.name;
    XOMNI_CHECK(r.has_tensor(name), path, ": no tensor ", name,
                " (the checkpoint is of a different model)");
    XOMNI_CHECK(r.tensor_info(name).shape == global, path, ": ", name, " is ",
                shape_str(r.tensor_info(name).shape), " but the model's is ", shape_str(global));
    Tensor dst = p.tensor;
    dst.copy_(r.read_slice(name, offset, local));
    opt.set_param_steps(i, int64_t(r.read_tensor("optimizer/" + p.name + ".step").item()));
    const int64_t k = owned_range_of(opt, i);
    if (k < 0) continue;
    const auto& range = opt.owned_ranges()[size_t(k)];
    const std::string base = "optimizer/" + p.name;
    opt.set_moments(size_t(k),
                    r.read_box_range(base + ".exp_avg", offset, local, range.begin, range.end),
                    r.read_box_range(base + ".exp_avg_sq", offset, local, range.begin, range.end));
  }
  opt.set_steps(int64_t(r.read_tensor("optimizer/step").item()));
  loader.restore(r.data_position("train_loader"));
  return r.step();
}

std::string agreed_latest_checkpoint(const std::string& dir, const ParallelSetup& par) {
  int64_t step = -1;
  if (par.is_rank0()) {
    if (auto latest = latest_valid_checkpoint(
            dir, [](const std::string& w) { std::fprintf(stderr, "warning: %s\n", w.c_str()); }))
      step = latest->step;
  }
  Tensor t = Tensor::full({1}, double(step), DType::i64);
  par.world->broadcast(t, 0);
  step = int64_t(t.item());
  return step < 0 ? std::string() : checkpoint_path(dir, step);
}

}  // namespace xomni::train
