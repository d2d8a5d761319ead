// Integer-factor resampling of NCHW images: nearest-neighbour upsampling and average pooling
// (kernel = stride = factor). Each op's backward is the other's forward up to a constant
// (kernels in cpu/resample.cpp).
#include "ops/kernels.h"
#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni {
namespace {
using Grads = std::vector<Tensor>;

void check_image(const char* op, const Tensor& x, int64_t factor) {
  check_dtype(op, x, {DType::f32, DType::f64});
  XOMNI_CHECK(x.dim() == 4, op, ": input must be [N, C, H, W], got shape ", shape_str(x.shape()));
  XOMNI_CHECK(factor >= 1, op, ": factor must be >= 1, got ", factor, " for input ",
              shape_str(x.shape()));
}

}  // namespace

Tensor upsample_nearest2d(const Tensor& x_in, int64_t factor) {
  check_image("upsample_nearest2d", x_in, factor);
  Tensor out = kernels_for(x_in.device()).repeat_blocks(x_in.contiguous(), factor, 1.0);
  return record(out, "upsample_nearest2d", {x_in},
                [factor](const Tensor& g, const std::vector<bool>&) {
                  return Grads{kernels_for(g.device()).block_sum(g.contiguous(), factor, 1.0)};
                });
}

Tensor avg_pool2d(const Tensor& x_in, int64_t factor) {
  check_image("avg_pool2d", x_in, factor);
  XOMNI_CHECK(x_in.shape()[2] % factor == 0 && x_in.shape()[3] % factor == 0,
              "avg_pool2d: height and width of input ", shape_str(x_in.shape()),
              " must be divisible by the factor ", factor);
  const double inv = 1.0 / double(factor * factor);
  Tensor out = kernels_for(x_in.device()).block_sum(x_in.contiguous(), factor, inv);
  return record(out, "avg_pool2d", {x_in},
                [factor, inv](const Tensor& g, const std::vector<bool>&) {
                  return Grads{kernels_for(g.device()).repeat_blocks(g.contiguous(), factor, inv)};
                });
}

}  // namespace xomni
