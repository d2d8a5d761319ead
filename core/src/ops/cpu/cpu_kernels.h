#pragma once
// Internal: the CPU kernels, one function per entry of the kernel table (ops/kernels.h), in
// files by op family under cpu/. cpu_kernels() is the table that holds them.
#include "ops/kernels.h"

namespace xomni::cpu {

const Kernels& cpu_kernels();

// copy.cpp
void copy(const Tensor& dst, const Tensor& src);
void fill(const Tensor& t, double value);
void zero(const Tensor& t);

// elementwise.cpp
Tensor unary(UnaryOp op, const Tensor& a, double s0, double s1);
Tensor unary_backward(UnaryOp op, const Tensor& g, const Tensor& saved, double s0, double s1);
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);
Tensor select(const char* name, const Tensor& cond, const Tensor& a, const Tensor& b);

// reduce.cpp
Tensor sum(const Tensor& x, const Shape& out_shape, int64_t A, int64_t R, int64_t B);
Tensor argmax(const Tensor& a, int64_t dim, const Shape& out_shape);
double sum_squares(const Tensor& t);
void scale_(const Tensor& t, double factor);

// softmax.cpp
Tensor softmax(const Tensor& x, bool log_space);
Tensor softmax_backward(const Tensor& g, const Tensor& y, bool log_space);

// matmul.cpp
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);

// norm.cpp
NormForward layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, double eps);
std::vector<Tensor> layer_norm_backward(const Tensor& x, const Tensor& w, const Tensor& g,
                                        const Tensor& mean, const Tensor& rstd);
NormForward rms_norm(const Tensor& x, const Tensor& w, double eps);
std::vector<Tensor> rms_norm_backward(const Tensor& x, const Tensor& w, const Tensor& g,
                                      const Tensor& rstd);

// group_norm.cpp
NormForward group_norm(const Tensor& x, int64_t groups, const Tensor& w, const Tensor& b,
                       double eps);
std::vector<Tensor> group_norm_backward(const Tensor& x, int64_t groups, const Tensor& w,
                                        const Tensor& g, const Tensor& mean, const Tensor& rstd,
                                        const std::vector<bool>& needs);

// rope.cpp
Tensor rope(const Tensor& x, const Tensor& positions, double theta, bool inverse);
std::vector<Tensor> rope_qk(const Tensor& q, const Tensor& k, const Tensor& positions, double theta,
                            bool inverse);

// norm.cpp (residual add + rms_norm)
AddNormForward add_rms_norm(const Tensor& x, const Tensor& r, const Tensor& w, double eps);
std::vector<Tensor> add_rms_norm_backward(const Tensor& sum, const Tensor& w, const Tensor& rstd,
                                          const Tensor& g_sum, const Tensor& g_out);

// swiglu.cpp
Tensor swiglu(const Tensor& gate, const Tensor& up);
std::vector<Tensor> swiglu_backward(const Tensor& gate, const Tensor& up, const Tensor& g);

// attention.cpp
void attention_forward(const AttentionInputs& in, const Tensor& out, const Tensor& lse);
void attention_backward(const AttentionInputs& in, const Tensor& out, const Tensor& lse,
                        const Tensor& dout, const Tensor& dq, const Tensor& dk, const Tensor& dv);
Tensor replace_value(const Tensor& t, double from, double to);

// conv.cpp
Tensor conv2d(const Conv2dGeom& g, const Tensor& x, const Tensor& w, const Tensor& b);
std::vector<Tensor> conv2d_backward(const Conv2dGeom& g, const Tensor& x, const Tensor& w,
                                    const Tensor& gy, const std::vector<bool>& needs);

// resample.cpp
Tensor repeat_blocks(const Tensor& x, int64_t factor, double scale);
Tensor block_sum(const Tensor& x, int64_t factor, double scale);

// index.cpp
Tensor gather(const Tensor& a, int64_t dim, const Tensor& index);
Tensor gather_backward(const Tensor& g, const Tensor& index, int64_t dim, const Shape& in_shape);
Tensor index_select(const Tensor& a, int64_t dim, const Tensor& index);
Tensor index_select_backward(const Tensor& g, const Tensor& index, int64_t dim,
                             const Shape& in_shape);

// loss.cpp
CrossEntropyForward cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index,
                                  Reduction reduction);
Tensor cross_entropy_backward(const Tensor& logits, const Tensor& targets, const Tensor& lse,
                              const Tensor& g, int64_t ignore_index, Reduction reduction,
                              int64_t counted);

// adamw.cpp
void adamw_update(DType dtype, void* param, const void* grad, void* exp_avg, void* exp_avg_sq,
                  int64_t n, const AdamWScalars& s);

// sampling.cpp
Tensor top_k_filter(const Tensor& logits, int64_t k);
Tensor top_p_filter(const Tensor& logits, double p);
Tensor multinomial(const Tensor& logits, uint64_t seed, uint64_t base, double temperature);

}  // namespace xomni::cpu
