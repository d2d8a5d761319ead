#include "xomni/core/nn/nn.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni::nn {

Shape Sharding::global_shape(const Shape& local) const {
  Shape g = local;
  if (sharded()) g[size_t(dim)] *= parts;
  return g;
}

Shape Sharding::offset(const Shape& local) const {
  Shape o(local.size(), 0);
  if (sharded()) o[size_t(dim)] = index * local[size_t(dim)];
  return o;
}

Shape shard_shape(const Shape& global, const Sharding& s) {
  if (!s.sharded()) return global;
  XOMNI_CHECK(s.dim < int(global.size()) && global[size_t(s.dim)] % s.parts == 0,
              "sharding: ", s.parts, " parts do not divide dimension ", s.dim, " of ",
              shape_str(global));
  XOMNI_CHECK(s.index >= 0 && s.index < s.parts, "sharding: piece ", s.index, " of ", s.parts);
  Shape local = global;
  local[size_t(s.dim)] /= s.parts;
  return local;
}

NamedTensors Module::named_parameters(const std::string& prefix) const {
  NamedTensors out;
  for (const ParamInfo& p : parameter_infos(prefix)) out.emplace_back(p.name, p.tensor);
  return out;
}

std::vector<ParamInfo> Module::parameter_infos(const std::string& prefix) const {
  std::vector<ParamInfo> out;
  for (const ParamInfo& p : params_) out.push_back({prefix + p.name, p.tensor, p.sharding});
  for (const auto& [name, child] : children_) {
    std::vector<ParamInfo> sub = child->parameter_infos(prefix + name + ".");
    out.insert(out.end(), sub.begin(), sub.end());
  }
  return out;
}

Tensor& Module::parameter(const std::string& name) {
  for (ParamInfo& p : params_)
    if (p.name == name) return p.tensor;
  const size_t dot = name.find('.');
  if (dot != std::string::npos) {
    const std::string head = name.substr(0, dot);
    for (auto& [n, child] : children_)
      if (n == head) return child->parameter(name.substr(dot + 1));
  }
  throw Error("Module::parameter: no parameter named '" + name + "'");
}

Tensor& Module::register_parameter(const std::string& name, Tensor t, Sharding sharding) {
  for (const ParamInfo& p : params_)
    XOMNI_CHECK(p.name != name, "Module: parameter '", name, "' registered twice");
  params_.push_back({name, std::move(t), sharding});
  return params_.back().tensor;
}

Tensor normal_parameter(const Shape& shape, double std, Generator& gen) {
  NoGradGuard no_grad;
  Tensor t = mul(randn(shape, gen), std).detach();
  t.set_requires_grad();
  return t;
}

Tensor normal_parameter_shard(const Shape& global_shape, const Sharding& sharding, double std,
                              Generator& gen) {
  NoGradGuard no_grad;
  const Shape local = shard_shape(global_shape, sharding);
  Tensor t = mul(randn_box(global_shape, sharding.offset(local), local, gen), std).detach();
  t.set_requires_grad();
  return t;
}

Linear::Linear(int64_t in, int64_t out, bool bias, Generator& gen, double init_std) {
  weight_ = &register_parameter("weight", normal_parameter({out, in}, init_std, gen));
  if (bias) {
    Tensor b = Tensor::zeros({out});
    b.set_requires_grad();
    bias_ = &register_parameter("bias", b);
  }
}

Tensor Linear::operator()(const Tensor& x) const {
  return linear(x, *weight_, bias_ ? *bias_ : Tensor());
}

Embedding::Embedding(int64_t vocab, int64_t dim, Generator& gen, double init_std) {
  weight_ = &register_parameter("weight", normal_parameter({vocab, dim}, init_std, gen));
}

RMSNorm::RMSNorm(int64_t dim, double eps, Sharding sharding) : eps_(eps) {
  Tensor w = Tensor::ones({dim});
  w.set_requires_grad();
  weight_ = &register_parameter("weight", w, sharding);
}

}  // namespace xomni::nn
