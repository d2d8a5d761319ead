// Rotary position embedding, rotate-half layout (dimension i pairs with i + D/2), as in
// Qwen2/Llama; the kernel is cpu/rope.cpp.
#include <cmath>

#include "ops/kernels.h"
#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni {
namespace {
using Grads = std::vector<Tensor>;
}  // namespace

Tensor rope(const Tensor& x, const Tensor& positions, double theta) {
  check_dtype("rope", x, {DType::f32, DType::f64});
  XOMNI_CHECK(x.dim() == 4 && x.shape()[3] % 2 == 0,
              "rope: input must be [B, T, H, D] with even D, got ", shape_str(x.shape()));
  check_dtype("rope", positions, {DType::i32, DType::i64});
  const Shape bt{x.shape()[0], x.shape()[1]};
  XOMNI_CHECK((positions.dim() == 1 && positions.shape()[0] == bt[1]) ||
                  (positions.dim() == 2 && positions.shape() == bt),
              "rope: positions of shape ", shape_str(positions.shape()), " do not match input ",
              shape_str(x.shape()), " (expected [T] or [B, T])");
  XOMNI_CHECK(theta > 0, "rope: theta must be positive, got ", theta);
  const Tensor pos = positions.contiguous();
  Tensor out = kernels_for(x.device()).rope(x.contiguous(), pos, theta, false);
  return record(out, "rope", {x}, [pos, theta](const Tensor& g, const std::vector<bool>&) {
    return Grads{kernels_for(g.device()).rope(g.contiguous(), pos, theta, true)};
  });
}

}  // namespace xomni
