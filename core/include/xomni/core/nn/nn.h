#pragma once
// Building blocks for models: a Module owns named parameters and sub-modules; parameter names
// are dotted paths ("layers.3.self_attn.q_proj.weight") so checkpoints and Hugging Face weights
// map onto them by name.
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/random.h"
#include "xomni/core/tensor/tensor.h"

namespace xomni::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// Where a module's local parameter sits in its layout-independent (global) parameter: piece
// `index` of `parts` equal pieces along `dim`; dim < 0 means the whole tensor (a replica).
// Checkpoints store the global tensor, so a model saved under one parallel layout loads under
// another.
struct Sharding {
  int dim = -1;
  int64_t parts = 1;
  int64_t index = 0;
  // Each replica's gradient covers only part of the data and must be summed over the group that
  // shares the parameter (norm weights under sequence parallelism).
  bool partial_grad = false;

  bool sharded() const { return dim >= 0 && parts > 1; }
  Shape global_shape(const Shape& local) const;
  Shape offset(const Shape& local) const;  // of the local piece inside the global tensor
};

struct ParamInfo {
  std::string name;
  Tensor tensor;
  Sharding sharding;
};

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Every parameter of this module and its children, in registration order.
  NamedTensors named_parameters(const std::string& prefix = "") const;
  // The same, with each parameter's sharding.
  std::vector<ParamInfo> parameter_infos(const std::string& prefix = "") const;
  // Finds a parameter by its dotted name; throws naming the module path if absent.
  Tensor& parameter(const std::string& name);

 protected:
  Tensor& register_parameter(const std::string& name, Tensor t, Sharding sharding = {});
  template <typename M>
  M& register_module(const std::string& name, std::unique_ptr<M> m) {
    M& ref = *m;
    children_.emplace_back(name, std::move(m));
    return ref;
  }

 private:
  std::deque<ParamInfo> params_;  // deque: references stay valid
  std::vector<std::pair<std::string, std::unique_ptr<Module>>> children_;
};

// A module that only groups children under names ("model", "layers", "0").
class Container : public Module {
 public:
  template <typename M>
  M& add(const std::string& name, std::unique_ptr<M> m) {
    return register_module(name, std::move(m));
  }
};

// Weights drawn from N(0, std^2) as f32 leaves that require grad.
Tensor normal_parameter(const Shape& shape, double std, Generator& gen);
// The local piece `sharding` describes of a global N(0, std^2) weight of `global_shape`: the same
// values the whole tensor would hold there, whatever the layout (the generator advances by the
// whole tensor's draws).
Tensor normal_parameter_shard(const Shape& global_shape, const Sharding& sharding, double std,
                              Generator& gen);
// The local shape of piece `sharding` of a global shape; throws when `parts` does not divide it.
Shape shard_shape(const Shape& global_shape, const Sharding& sharding);

class Linear : public Module {
 public:
  Linear(int64_t in, int64_t out, bool bias, Generator& gen, double init_std = 0.02);
  Tensor operator()(const Tensor& x) const;
  const Tensor& weight() const { return *weight_; }

 private:
  Tensor* weight_;
  Tensor* bias_ = nullptr;
};

class Embedding : public Module {
 public:
  Embedding(int64_t vocab, int64_t dim, Generator& gen, double init_std = 0.02);
  Tensor operator()(const Tensor& ids) const { return embedding(*weight_, ids); }
  const Tensor& weight() const { return *weight_; }

 private:
  Tensor* weight_;
};

class RMSNorm : public Module {
 public:
  // `sharding` only marks the weight's gradient as partial (sequence parallelism).
  RMSNorm(int64_t dim, double eps, Sharding sharding = {});
  Tensor operator()(const Tensor& x) const { return rms_norm(x, *weight_, eps_); }

 private:
  Tensor* weight_;
  double eps_;
};

}  // namespace xomni::nn
