// conv2d (NCHW, groups = 1, dilation = 1): argument checks, geometry and autograd around the
// kernels (cpu/conv.cpp).
#include "ops/kernels.h"
#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni {
namespace {
Conv2dGeom make_geom(const Tensor& x, const Tensor& w, const Tensor& b, int64_t stride,
                     int64_t padding) {
  const char* op = "conv2d";
  check_dtype(op, x, {DType::f32, DType::f64});
  check_same_dtype(op, x, w);
  check_same_device(op, x, w);
  XOMNI_CHECK(x.dim() == 4, "conv2d: input must be [N, C, H, W], got shape ", shape_str(x.shape()),
              " (weight ", shape_str(w.shape()), ")");
  XOMNI_CHECK(w.dim() == 4, "conv2d: weight must be [O, C, kh, kw], got shape ",
              shape_str(w.shape()), " (input ", shape_str(x.shape()), ")");
  const Shape& xs = x.shape();
  const Shape& ws = w.shape();
  XOMNI_CHECK(xs[1] == ws[1], "conv2d: input ", shape_str(xs), " has ", xs[1],
              " channels but weight ", shape_str(ws), " expects ", ws[1]);
  XOMNI_CHECK(stride >= 1 && padding >= 0, "conv2d: stride must be >= 1 and padding >= 0, got ",
              stride, " and ", padding, " (input ", shape_str(xs), ")");
  XOMNI_CHECK(ws[0] > 0 && ws[1] > 0 && ws[2] > 0 && ws[3] > 0,
              "conv2d: weight has an empty dimension: ", shape_str(ws));
  XOMNI_CHECK(xs[2] + 2 * padding >= ws[2] && xs[3] + 2 * padding >= ws[3], "conv2d: kernel ",
              ws[2], "x", ws[3], " of weight ", shape_str(ws), " is larger than input ",
              shape_str(xs), " padded by ", padding);
  if (b.defined()) {
    check_same_dtype(op, x, b);
    XOMNI_CHECK(b.dim() == 1 && b.shape()[0] == ws[0], "conv2d: bias must be [", ws[0],
                "] for weight ", shape_str(ws), ", got ", shape_str(b.shape()));
  }
  Conv2dGeom g{xs[0], xs[1], xs[2], xs[3], ws[0], ws[2], ws[3], stride, padding, 0, 0};
  g.OH = (g.H + 2 * g.p - g.kh) / g.s + 1;
  g.OW = (g.W + 2 * g.p - g.kw) / g.s + 1;
  return g;
}
}  // namespace

Tensor conv2d(const Tensor& x_in, const Tensor& w_in, const Tensor& b_in, int64_t stride,
              int64_t padding) {
  const Conv2dGeom g = make_geom(x_in, w_in, b_in, stride, padding);
  const Tensor x = x_in.contiguous(), w = w_in.contiguous();
  const Tensor b = b_in.defined() ? b_in.contiguous() : Tensor();
  // Backward needs x only for dW and the weight only for dX; keep nothing else alive.
  const Tensor x_saved = w_in.requires_grad() ? x : Tensor();
  const Tensor w_saved = x_in.requires_grad() ? w : Tensor();
  Tensor out = kernels_for(x.device()).conv2d(g, x, w, b);
  return record(
      out, "conv2d", {x_in, w_in, b_in},
      [g, x = x_saved, w = w_saved](const Tensor& g_in, const std::vector<bool>& needs) {
        return kernels_for(g_in.device()).conv2d_backward(g, x, w, g_in.contiguous(), needs);
      });
}

}  // namespace xomni
