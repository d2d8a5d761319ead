// The timed kernel table: a copy of the CPU table whose entries open a profiler scope named after
// the kernel (the unary and binary maps after their operation), with the bytes of the tensors
// they read and return and, for the products, their FLOPs, then call the plain kernel. An entry
// not listed here is called untimed.
#include "ops/profiled_kernels.h"

#include <type_traits>

#include "ops/kernels.h"
#include "tensor/profiler_scopes.h"

namespace xomni::profiler {
namespace {

const Kernels* g_plain = nullptr;  // the table under the timed one while the profiler runs

double bytes_of(const Tensor& t) {
  return t.defined() ? double(t.numel()) * double(dtype_size(t.dtype())) : 0.0;
}
double bytes_of(const std::vector<Tensor>& ts) {
  double b = 0;
  for (const Tensor& t : ts) b += bytes_of(t);
  return b;
}
double bytes_of(const AttentionInputs& in) {
  return bytes_of(in.q) + bytes_of(in.k) + bytes_of(in.v);
}
double bytes_of(const NormForward& f) {
  return bytes_of(f.out);
}
double bytes_of(const CrossEntropyForward& f) {
  return bytes_of(f.out);
}
double bytes_of(const AddNormForward& f) {
  return bytes_of(f.sum) + bytes_of(f.out);
}
double bytes_of(const LinearCrossEntropyStats& s) {
  return bytes_of(s.row_max) + bytes_of(s.sum_exp) + bytes_of(s.target_logit);
}
template <typename T>
double bytes_of(const T&) {  // scalars, shapes, flags
  return 0.0;
}

// Closes the kernel's scope on every way out, exceptions included.
struct KernelScope {
  bool active = false;
  double result_bytes = 0;
  KernelScope(const char* name, double flops, double bytes) {
    begin_scope(name, flops, bytes, active);
  }
  ~KernelScope() {
    if (active) end_scope(result_bytes);
  }
};

// FLOPs of a kernel call: 0 unless specialised below (memory-bound kernels report GB/s only).
template <auto Member>
struct Flops {
  template <typename... A>
  static double of(const A&...) {
    return 0.0;
  }
};
template <>
struct Flops<&Kernels::matmul> {
  static double of(const Tensor& a, const Tensor& b) {  // [..., m, k] @ [..., k, n]
    return 2.0 * double(a.numel()) * double(b.shape().back());
  }
};
template <>
struct Flops<&Kernels::linear> {
  static double of(const Tensor& x, const Tensor& w, const Tensor&) {
    return 2.0 * double(x.numel()) * double(w.shape()[0]);
  }
};
// Score and value products per head: 2 (forward) or 5 (backward recomputes the scores) products
// of 2*Tq*Tk*D, about half of them under a causal mask.
double attention_flops(const AttentionInputs& in, double products) {
  const double B = double(in.q.size(0)), H = double(in.q.size(1)), Tq = double(in.q.size(2));
  const double D = double(in.q.size(3)), Tk = double(in.k.size(2));
  const double pairs = in.causal && Tq == Tk ? Tq * (Tq + 1) / 2 : Tq * Tk;
  return products * 2.0 * B * H * pairs * D;
}
template <>
struct Flops<&Kernels::attention_forward> {
  static double of(const AttentionInputs& in, const Tensor&, const Tensor&) {
    return attention_flops(in, 2);
  }
};
template <>
struct Flops<&Kernels::attention_backward> {
  template <typename... Rest>
  static double of(const AttentionInputs& in, const Rest&...) {
    return attention_flops(in, 5);
  }
};
template <>
struct Flops<&Kernels::conv2d> {
  template <typename... Rest>
  static double of(const Conv2dGeom& g, const Rest&...) {
    return 2.0 * double(g.N * g.O * g.L() * g.K());
  }
};
template <>
struct Flops<&Kernels::conv2d_backward> {
  static double of(const Conv2dGeom& g, const Tensor&, const Tensor&, const Tensor&,
                   const std::vector<bool>& needs) {
    const double one = 2.0 * double(g.N * g.O * g.L() * g.K());
    return one * ((needs.size() > 0 && needs[0]) + (needs.size() > 1 && needs[1]));
  }
};

// The fused LM head: one logits product over the vocabulary forward; backward recomputes it and
// adds one product per gradient asked for.
template <>
struct Flops<&Kernels::linear_cross_entropy_stats> {
  template <typename... Rest>
  static double of(const Tensor& hidden, const Tensor& weight, const Rest&...) {
    return 2.0 * double(hidden.numel()) * double(weight.size(0));
  }
};
template <>
struct Flops<&Kernels::linear_cross_entropy_backward> {
  static double of(const Tensor& hidden, const Tensor& weight, const Tensor&, const Tensor&,
                   const Tensor&, int64_t, int64_t, const std::vector<bool>& needs, int64_t) {
    const double one = 2.0 * double(hidden.numel()) * double(weight.size(0));
    return one *
           (1.0 + double(needs.size() > 0 && needs[0]) + double(needs.size() > 1 && needs[1]));
  }
};

// One timed entry: same signature as the plain kernel, so it fits the table's pointer.
template <auto Member, const char* Name>
struct Timed;
template <typename R, typename... A, R (*Kernels::*Member)(A...), const char* Name>
struct Timed<Member, Name> {
  static R call(A... args) {
    KernelScope scope(Name, Flops<Member>::of(args...), (bytes_of(args) + ... + 0.0));
    if constexpr (std::is_void_v<R>) {
      (g_plain->*Member)(args...);
    } else {
      R r = (g_plain->*Member)(args...);
      scope.result_bytes = bytes_of(r);
      return r;
    }
  }
};

const char* unary_name(UnaryOp op, bool backward) {
  switch (op) {
    case UnaryOp::add_scalar:
      return backward ? "add_scalar_backward" : "add_scalar";
    case UnaryOp::mul_scalar:
      return backward ? "mul_scalar_backward" : "mul_scalar";
    case UnaryOp::neg:
      return backward ? "neg_backward" : "neg";
    case UnaryOp::exp:
      return backward ? "exp_backward" : "exp";
    case UnaryOp::log:
      return backward ? "log_backward" : "log";
    case UnaryOp::sqrt:
      return backward ? "sqrt_backward" : "sqrt";
    case UnaryOp::rsqrt:
      return backward ? "rsqrt_backward" : "rsqrt";
    case UnaryOp::tanh:
      return backward ? "tanh_backward" : "tanh";
    case UnaryOp::sigmoid:
      return backward ? "sigmoid_backward" : "sigmoid";
    case UnaryOp::silu:
      return backward ? "silu_backward" : "silu";
    case UnaryOp::relu:
      return backward ? "relu_backward" : "relu";
    case UnaryOp::pow:
      return backward ? "pow_backward" : "pow";
    case UnaryOp::gelu:
      return backward ? "gelu_backward" : "gelu";
    case UnaryOp::gelu_tanh:
      return backward ? "gelu_tanh_backward" : "gelu_tanh";
    case UnaryOp::clamp:
      return backward ? "clamp_backward" : "clamp";
  }
  return "unary";
}
const char* binary_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::add:
      return "add";
    case BinaryOp::sub:
      return "sub";
    case BinaryOp::mul:
      return "mul";
    case BinaryOp::div:
      return "div";
  }
  return "binary";
}

Tensor timed_unary(UnaryOp op, const Tensor& a, double s0, double s1) {
  KernelScope scope(unary_name(op, false), 0, bytes_of(a));
  Tensor r = g_plain->unary(op, a, s0, s1);
  scope.result_bytes = bytes_of(r);
  return r;
}
Tensor timed_unary_backward(UnaryOp op, const Tensor& g, const Tensor& saved, double s0,
                            double s1) {
  KernelScope scope(unary_name(op, true), 0, bytes_of(g) + bytes_of(saved));
  Tensor r = g_plain->unary_backward(op, g, saved, s0, s1);
  scope.result_bytes = bytes_of(r);
  return r;
}
Tensor timed_binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  KernelScope scope(binary_name(op), 0, bytes_of(a) + bytes_of(b));
  Tensor r = g_plain->binary(op, a, b);
  scope.result_bytes = bytes_of(r);
  return r;
}
void timed_adamw(DType dtype, void* param, const void* grad, void* exp_avg, void* exp_avg_sq,
                 int64_t n, const AdamWScalars& s) {
  // Reads parameter, gradient and both moments; writes parameter and moments.
  KernelScope scope("adamw_update", 0, 7.0 * double(n) * double(dtype_size(dtype)));
  g_plain->adamw_update(dtype, param, grad, exp_avg, exp_avg_sq, n, s);
}

#define XOMNI_TIMED(entry)                       \
  static constexpr char entry##_name[] = #entry; \
  t.entry = &Timed<&Kernels::entry, entry##_name>::call

Kernels timed_table(const Kernels& plain) {
  Kernels t = plain;  // entries not listed below stay plain
  t.unary = timed_unary;
  t.unary_backward = timed_unary_backward;
  t.binary = timed_binary;
  t.adamw_update = timed_adamw;
  XOMNI_TIMED(copy);
  XOMNI_TIMED(fill);
  XOMNI_TIMED(zero);
  XOMNI_TIMED(select);
  XOMNI_TIMED(sum);
  XOMNI_TIMED(argmax);
  XOMNI_TIMED(sum_squares);
  XOMNI_TIMED(scale_);
  XOMNI_TIMED(softmax);
  XOMNI_TIMED(softmax_backward);
  XOMNI_TIMED(matmul);
  XOMNI_TIMED(linear);
  XOMNI_TIMED(layer_norm);
  XOMNI_TIMED(layer_norm_backward);
  XOMNI_TIMED(rms_norm);
  XOMNI_TIMED(rms_norm_backward);
  XOMNI_TIMED(group_norm);
  XOMNI_TIMED(group_norm_backward);
  XOMNI_TIMED(rope);
  XOMNI_TIMED(rope_qk);
  XOMNI_TIMED(add_rms_norm);
  XOMNI_TIMED(add_rms_norm_backward);
  XOMNI_TIMED(swiglu);
  XOMNI_TIMED(swiglu_backward);
  XOMNI_TIMED(attention_forward);
  XOMNI_TIMED(attention_backward);
  XOMNI_TIMED(replace_value);
  XOMNI_TIMED(conv2d);
  XOMNI_TIMED(conv2d_backward);
  XOMNI_TIMED(repeat_blocks);
  XOMNI_TIMED(block_sum);
  XOMNI_TIMED(gather);
  XOMNI_TIMED(gather_backward);
  XOMNI_TIMED(index_select);
  XOMNI_TIMED(index_select_backward);
  XOMNI_TIMED(cross_entropy);
  XOMNI_TIMED(cross_entropy_backward);
  XOMNI_TIMED(linear_cross_entropy_stats);
  XOMNI_TIMED(linear_cross_entropy_backward);
  XOMNI_TIMED(top_k_filter);
  XOMNI_TIMED(top_p_filter);
  XOMNI_TIMED(multinomial);
  return t;
}
#undef XOMNI_TIMED

}  // namespace

void install_profiled_kernels(bool on) {
  static Kernels timed;
  if (on) {
    if (g_plain) return;  // already timed
    g_plain = &kernels_for(Device::cpu());
    timed = timed_table(*g_plain);
    register_kernels(Device::Kind::cpu, &timed);
  } else if (g_plain) {
    register_kernels(Device::Kind::cpu, g_plain);
    g_plain = nullptr;
  }
}

}  // namespace xomni::profiler
