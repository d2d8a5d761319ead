#include "train/checkpoint.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <map>

#include "xomni/core/io/checkpoint.h"
#include "xomni/core/tensor/autograd.h"
#include "xomni/parallel/comm_checkpoint_group.h"
#include "xomni/parallel/deadline.h"

namespace xomni::train {
namespace {

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

// A parameter as every rank must declare it in the file (collective creation), whichever pipeline
// stage holds it.
struct ParamMeta {
  std::string name;
  Shape global;
  DType dtype;
};

// Every rank's string, in rank order (all-gather of lengths, then of padded bytes).
std::vector<std::string> all_gather_strings(parallel::Communicator& comm, const std::string& mine) {
  Tensor lengths = Tensor::empty({comm.size()}, DType::i64);
  comm.all_gather(Tensor::full({1}, double(mine.size()), DType::i64), lengths);
  const std::vector<int64_t> n = lengths.to_vector<int64_t>();
  const int64_t longest = std::max<int64_t>(1, *std::max_element(n.begin(), n.end()));
  Tensor buf = Tensor::zeros({longest}, DType::u8);
  std::copy(mine.begin(), mine.end(), buf.data<uint8_t>());
  Tensor all = Tensor::empty({comm.size() * longest}, DType::u8);
  comm.all_gather(buf, all);
  std::vector<std::string> out;
  const char* p = reinterpret_cast<const char*>(all.data<uint8_t>());
  for (int r = 0; r < comm.size(); ++r) out.emplace_back(p + r * longest, size_t(n[size_t(r)]));
  return out;
}

// The parameters of every pipeline stage, stage by stage, each in its model order.
std::vector<ParamMeta> all_stage_params(const std::vector<nn::ParamInfo>& params,
                                        const ParallelSetup& par) {
  std::string mine;
  // One line per parameter: name, dtype code, global dims, tab-separated. (Appended piece by
  // piece: GCC 12 warns falsely on chained string concatenation here.)
  for (const nn::ParamInfo& p : params) {
    mine.append(p.name).append("\t").append(std::to_string(int(p.tensor.dtype())));
    for (int64_t d : p.sharding.global_shape(p.tensor.shape()))
      mine.append("\t").append(std::to_string(d));
    mine.append("\n");
  }
  std::vector<std::string> stages{mine};
  if (par.layout().pp > 1) stages = all_gather_strings(par.groups->pp(), mine);
  std::vector<ParamMeta> out;
  for (const std::string& text : stages) {
    size_t pos = 0;
    while (pos < text.size()) {
      const size_t end = text.find('\n', pos);
      std::vector<std::string> fields;
      size_t f = pos;
      while (f <= end) {
        const size_t tab = std::min(text.find('\t', f), end);
        fields.push_back(text.substr(f, tab - f));
        f = tab + 1;
      }
      ParamMeta m{fields[0], {}, DType(std::stoi(fields[1]))};
      for (size_t k = 2; k < fields.size(); ++k) m.global.push_back(std::stoll(fields[k]));
      out.push_back(std::move(m));
      pos = end + 1;
    }
  }
  return out;
}

// HDF5's MPI-IO collectives block inside MPI where the Communicator's timeout cannot see them: a
// stopped or dead rank would hang the others there. The deadline stops the job instead.
parallel::Deadline io_deadline(const std::string& what, const ParallelSetup& par) {
  return parallel::Deadline(what, par.checkpoint_timeout_s, "parallel.checkpoint_timeout_s");
}

}  // namespace

void save_training_checkpoint(const std::string& dir, int64_t step, const std::string& config_toml,
                              const std::vector<nn::ParamInfo>& params,
                              const parallel::DistributedOptimizer& opt,
                              const DataPositions& positions, const ParallelSetup& par,
                              int64_t keep) {
  const parallel::Deadline deadline =
      io_deadline("writing checkpoint " + checkpoint_path(dir, step), par);
  parallel::CommCheckpointGroup group(*par.world);
  CheckpointWriter w(dir, step, group);
  std::map<std::string, size_t> local;
  for (size_t i = 0; i < params.size(); ++i) local[params[i].name] = i;
  const bool replica_writer = par.coord().dp == 0 && par.coord().cp == 0;
  for (const ParamMeta& meta : all_stage_params(params, par)) {
    const auto it = local.find(meta.name);
    const bool here = it != local.end();
    const size_t i = here ? it->second : 0;
    const Shape zeros(meta.global.size(), 0);
    const Tensor nothing = Tensor::empty({0}, meta.dtype);
    const std::string name = "model/" + meta.name;
    w.create_tensor(name, meta.global, meta.dtype);
    // One data-parallel replica writes; of a tensor-parallel replica only tp rank 0.
    const bool piece_writer = here && (params[i].sharding.sharded() || par.tp.rank() == 0);
    const Shape local_shape = here ? params[i].tensor.shape() : meta.global;
    const Shape offset = here ? params[i].sharding.offset(local_shape) : zeros;
    // As a range of the piece's box, so that a rank with nothing to write passes an empty tensor
    // whatever the rank (an "empty" slice of a 0-dim parameter would hold one element).
    if (piece_writer && replica_writer)
      w.write_box_range(name, params[i].tensor.detach().contiguous(), offset, local_shape, 0);
    else
      w.write_box_range(name, nothing, offset, local_shape, 0);

    // Moments: with ZeRO-1 every rank of the dp x cp group writes its own range; otherwise
    // one replica writes all.
    const int64_t r = here ? owned_range_of(opt, i) : -1;
    const bool writer = r >= 0 && piece_writer && (opt.sharded() || replica_writer);
    for (const char* moment : {"exp_avg", "exp_avg_sq"}) {
      const std::string mname = "optimizer/" + meta.name + "." + moment;
      w.create_tensor(mname, meta.global, meta.dtype);
      if (writer) {
        const Tensor data =
            std::string(moment) == "exp_avg" ? opt.exp_avg(size_t(r)) : opt.exp_avg_sq(size_t(r));
        w.write_box_range(mname, data, offset, local_shape, opt.owned_ranges()[size_t(r)].begin);
      } else {
        w.write_box_range(mname, nothing, offset, local_shape, 0);
      }
    }
    write_scalar(w, "optimizer/" + meta.name + ".step", here ? opt.param_steps(i) : 0,
                 here && replica_writer && par.tp.rank() == 0);
  }
  write_scalar(w, "optimizer/step", opt.steps(), par.is_rank0());
  for (const auto& [name, position] : positions) w.set_data_position(name, position);
  w.set_metadata("layout", par.layout().str());
  w.set_config(config_toml);
  w.commit();
  if (par.is_rank0()) prune_checkpoints(dir, int(keep));
  par.world->barrier();
}

namespace {

// Copies this rank's piece of model/<name> of every parameter from `r`; calls `also(i)` after
// parameter i.
template <typename Also>
void read_params(CheckpointReader& r, const std::string& path,
                 const std::vector<nn::ParamInfo>& params, Also also) {
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
    also(i, offset, local);
  }
}

}  // namespace

int64_t restore_training_checkpoint(const std::string& path,
                                    const std::vector<nn::ParamInfo>& params,
                                    parallel::DistributedOptimizer& opt, DataPositions& positions,
                                    const ParallelSetup& par) {
  const parallel::Deadline deadline = io_deadline("reading checkpoint " + path, par);
  parallel::CommCheckpointGroup group(*par.world);
  CheckpointReader r(path, group, CheckpointVerify::structure);
  read_params(r, path, params, [&](size_t i, const Shape& offset, const Shape& local) {
    const nn::ParamInfo& p = params[i];
    opt.set_param_steps(i, int64_t(r.read_tensor("optimizer/" + p.name + ".step").item()));
    const int64_t k = owned_range_of(opt, i);
    if (k < 0) return;
    const auto& range = opt.owned_ranges()[size_t(k)];
    const std::string base = "optimizer/" + p.name;
    opt.set_moments(size_t(k),
                    r.read_box_range(base + ".exp_avg", offset, local, range.begin, range.end),
                    r.read_box_range(base + ".exp_avg_sq", offset, local, range.begin, range.end));
  });
  opt.set_steps(int64_t(r.read_tensor("optimizer/step").item()));
  for (auto& [name, position] : positions) position = r.data_position(name);
  return r.step();
}

namespace {

// What this rank's parameters take from a checkpoint holding model tensors `source`: the source
// name of each ("" = keep its initialisation), or a message saying why that cannot be done.
struct InitPlan {
  std::vector<std::string> source_names;
  std::vector<std::string> kept;  // parameters that keep their initialisation
  std::string error;
};

InitPlan plan_init(const CheckpointReader& r, const std::string& path,
                   const std::vector<nn::ParamInfo>& params, const InitSourceFn& source_of) {
  std::set<std::string> source;
  for (const std::string& t : r.tensor_names())
    if (t.rfind("model/", 0) == 0) source.insert(t.substr(6));
  InitPlan plan;
  std::vector<std::string> problems;
  for (const nn::ParamInfo& p : params) {
    std::string from = p.name;
    if (source_of) {
      from = source_of(p.name, source);
      if (from.empty()) plan.kept.push_back(p.name);
    }
    plan.source_names.push_back(from);
    if (from.empty()) continue;
    const Shape global = p.sharding.global_shape(p.tensor.shape());
    if (!source.count(from)) {
      problems.push_back("no tensor model/" + from + " for " + p.name);
    } else if (r.tensor_info("model/" + from).shape != global) {
      problems.push_back("model/" + from + " is " +
                         shape_str(r.tensor_info("model/" + from).shape) + " but the model's " +
                         p.name + " is " + shape_str(global));
    }
  }
  if (!problems.empty()) {
    plan.error = path +
                 ": the checkpoint's weights do not fit the model (a checkpoint of another " +
                 "model or size):";
    for (const std::string& m : problems) plan.error += "\n  " + m;
  } else if (!params.empty() && plan.kept.size() == params.size()) {
    plan.error = path + ": the checkpoint shares no parameter with the model (none of its " +
                 std::to_string(source.size()) + " model tensors is used)";
  }
  return plan;
}

}  // namespace

void load_model_weights(const std::string& path, const std::vector<nn::ParamInfo>& params,
                        const ParallelSetup& par, const InitSourceFn& source_of) {
  const parallel::Deadline deadline = io_deadline("reading weights from " + path, par);
  parallel::CommCheckpointGroup group(*par.world);
  CheckpointReader r(path, group, CheckpointVerify::structure);
  const InitPlan plan = plan_init(r, path, params, source_of);
  // Every rank learns whether any rank cannot start, so none goes on to train alone.
  Tensor failed = Tensor::full({1}, plan.error.empty() ? 0.0 : 1.0, DType::i64);
  par.world->all_reduce(failed, parallel::ReduceOp::sum);
  if (!plan.error.empty()) throw Error(plan.error);
  XOMNI_CHECK(failed.data<int64_t>()[0] == 0, path, ": another rank's parameters do not fit the ",
              "checkpoint (its message says which)");
  NoGradGuard no_grad;
  for (size_t i = 0; i < params.size(); ++i) {
    if (plan.source_names[i].empty()) continue;
    const nn::ParamInfo& p = params[i];
    const Shape local = p.tensor.shape();
    Tensor dst = p.tensor;
    dst.copy_(r.read_slice("model/" + plan.source_names[i], p.sharding.offset(local), local));
  }
  const parallel::Coord& c = par.coord();
  if (!plan.kept.empty() && c.tp == 0 && c.cp == 0 && c.dp == 0) {
    std::string names;
    for (const std::string& n : plan.kept) names += "\n  " + n;
    std::fprintf(stderr,
                 "%s: %zu of %zu parameters (pipeline stage %d) are not in it and keep "
                 "their initialisation:%s\n",
                 path.c_str(), plan.kept.size(), params.size(), c.pp, names.c_str());
  }
}

namespace {

// Why this rank's parameters, their optimizer state or the data positions cannot be restored from
// `r` ("" when they can): a checkpoint of another model, or of a stage with other data streams.
std::string misfit(const CheckpointReader& r, const std::vector<nn::ParamInfo>& params,
                   const DataPositions& positions) {
  for (const nn::ParamInfo& p : params) {
    const Shape global = p.sharding.global_shape(p.tensor.shape());
    const std::string name = "model/" + p.name, base = "optimizer/" + p.name;
    if (!r.has_tensor(name)) return "it has no tensor " + name + " (a checkpoint of another model)";
    const Shape saved = r.tensor_info(name).shape;
    if (saved != global)
      return name + " is " + shape_str(saved) + " in it but " + shape_str(global) + " in the model";
    for (const std::string& moment : {base + ".exp_avg", base + ".exp_avg_sq"})
      if (!r.has_tensor(moment) || r.tensor_info(moment).shape != global)
        return "its optimizer state " + moment + " is missing or mis-shaped";
    if (!r.has_tensor(base + ".step")) return "it has no optimizer state " + base + ".step";
  }
  if (!r.has_tensor("optimizer/step")) return "it has no optimizer/step";
  const std::vector<std::string> saved = r.data_position_names();
  for (const auto& [name, position] : positions)
    if (std::find(saved.begin(), saved.end(), name) == saved.end())
      return "it has no data position '" + name + "'";
  return "";
}

void warn(const std::string& w) {
  std::fprintf(stderr, "warning: %s\n", w.c_str());
}

}  // namespace

std::string agreed_checkpoint_to_resume(const std::string& dir,
                                        const std::vector<nn::ParamInfo>& params,
                                        const DataPositions& positions, const ParallelSetup& par,
                                        bool ignore_unreadable) {
  constexpr int64_t kNone = -1, kAllUnreadable = -2;
  std::vector<std::string> misfits;  // rank 0: each skipped checkpoint and why
  int64_t skipped = 0;               // every rank: how many did not fit
  int64_t before = std::numeric_limits<int64_t>::max();
  for (;;) {
    int64_t step = kNone;
    if (par.is_rank0()) {
      if (auto latest = latest_valid_checkpoint(dir, warn, before))
        step = latest->step;
      else if (skipped == 0 && !list_checkpoints(dir).empty() && !ignore_unreadable)
        step = kAllUnreadable;
    }
    Tensor t = Tensor::full({1}, double(step), DType::i64);
    par.world->broadcast(t, 0);
    step = int64_t(t.item());
    XOMNI_CHECK(step != kAllUnreadable, "none of the checkpoints in ", dir,
                " can be read (see the warnings above); starting over from step 0 would "
                "overwrite them. Move them away, or set train.ignore_unreadable_checkpoints = "
                "true to start from step 0 anyway");
    if (step == kNone) {
      if (skipped == 0) return "";
      std::string list;
      for (const std::string& m : misfits) list += "\n  " + m;
      throw Error("no checkpoint in " + dir + " fits this job's model:" + list +
                  "\nThey were written by a job with another model or data; give this job "
                  "another run.name (or run.dir), or move them away to start over");
    }
    const std::string path = checkpoint_path(dir, step);
    std::string why;
    {
      const parallel::Deadline deadline = io_deadline("opening checkpoint " + path, par);
      parallel::CommCheckpointGroup group(*par.world);
      CheckpointReader r(path, group, CheckpointVerify::structure);
      why = misfit(r, params, positions);
    }
    // Pipeline stages and shards hold different parameters: every rank must fit.
    Tensor bad = Tensor::full({1}, why.empty() ? 0.0 : 1.0, DType::i32);
    par.world->all_reduce(bad, parallel::ReduceOp::max);
    if (bad.item() == 0) return path;
    ++skipped;
    if (par.is_rank0()) {
      if (why.empty()) why = "the parameters another rank holds do not match it";
      warn("skipping checkpoint " + path + ": " + why + " (it does not fit this job)");
      misfits.push_back(path + ": " + why);
    }
    before = step;
  }
}

}  // namespace xomni::train
