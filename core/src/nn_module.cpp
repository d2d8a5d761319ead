#include "xomni/core/autograd.h"
#include "xomni/core/nn.h"

namespace xomni::nn {

NamedTensors Module::named_parameters(const std::string& prefix) const {
  NamedTensors out;
  for (const auto& [name, t] : params_) out.emplace_back(prefix + name, t);
  for (const auto& [name, child] : children_) {
    NamedTensors sub = child->named_parameters(prefix + name + ".");
    out.insert(out.end(), sub.begin(), sub.end());
  }
  return out;
}

Tensor& Module::parameter(const std::string& name) {
  for (auto& [n, t] : params_)
    if (n == name) return t;
  const size_t dot = name.find('.');
  if (dot != std::string::npos) {
    const std::string head = name.substr(0, dot);
    for (auto& [n, child] : children_)
      if (n == head) return child->parameter(name.substr(dot + 1));
  }
  throw Error("Module::parameter: no parameter named '" + name + "'");
}

Tensor& Module::register_parameter(const std::string& name, Tensor t) {
  for (const auto& [n, existing] : params_)
    XOMNI_CHECK(n != name, "Module: parameter '", name, "' registered twice");
  params_.emplace_back(name, std::move(t));
  return params_.back().second;
}

Tensor normal_parameter(const Shape& shape, double std, Generator& gen) {
  NoGradGuard no_grad;
  Tensor t = mul(randn(shape, gen), std).detach();
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

RMSNorm::RMSNorm(int64_t dim, double eps) : eps_(eps) {
  Tensor w = Tensor::ones({dim});
  w.set_requires_grad();
  weight_ = &register_parameter("weight", w);
}

}  // namespace xomni::nn
