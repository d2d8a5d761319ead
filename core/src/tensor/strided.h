#pragma once
// Internal: walking the elements of N same-shaped strided operands (broadcast operands carry
// stride 0). The callback receives runs along the innermost dimension.
#include <array>
#include <cstdint>
#include <vector>

#include "xomni/core/tensor/shape.h"

namespace xomni {

template <int N>
struct StridedRun {
  std::array<int64_t, N> offset;  // element offsets of the run's first element
  std::array<int64_t, N> stride;  // innermost strides
  int64_t length;
};

// Visits linear indices [begin, end) of `shape` in row-major order.
template <int N, typename Fn>
void for_each_run(const Shape& shape, const std::array<const Shape*, N>& strides, int64_t begin,
                  int64_t end, Fn&& fn) {
  if (begin >= end) return;
  const int64_t nd = int64_t(shape.size());
  if (nd == 0) {
    if (begin < end) {
      StridedRun<N> r;
      r.offset.fill(0);
      r.stride.fill(0);
      r.length = 1;
      fn(r);
    }
    return;
  }
  std::vector<int64_t> idx(nd);
  int64_t rem = begin;
  for (int64_t d = nd - 1; d >= 0; --d) {
    idx[d] = rem % shape[d];
    rem /= shape[d];
  }
  StridedRun<N> run;
  for (int k = 0; k < N; ++k) run.stride[k] = (*strides[k])[nd - 1];
  int64_t pos = begin;
  const int64_t inner = shape[nd - 1];
  while (pos < end) {
    for (int k = 0; k < N; ++k) {
      int64_t off = 0;
      for (int64_t d = 0; d < nd; ++d) off += idx[d] * (*strides[k])[d];
      run.offset[k] = off;
    }
    run.length = std::min(inner - idx[nd - 1], end - pos);
    fn(run);
    pos += run.length;
    idx[nd - 1] += run.length;
    for (int64_t d = nd - 1; d > 0 && idx[d] >= shape[d]; --d) {
      idx[d] = 0;
      ++idx[d - 1];
    }
  }
}

// Strides of `t_shape`/`t_strides` broadcast up to `out` (0 on broadcast dims).
inline Shape broadcast_strides(const Shape& t_shape, const Shape& t_strides, const Shape& out) {
  Shape s(out.size(), 0);
  const size_t off = out.size() - t_shape.size();
  for (size_t i = 0; i < t_shape.size(); ++i)
    s[off + i] = (t_shape[i] == 1 && out[off + i] != 1) ? 0 : t_strides[i];
  return s;
}

}  // namespace xomni
