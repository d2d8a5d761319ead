#pragma once
// Shapes, strides and the broadcasting rule.
#include <cstdint>
#include <string>
#include <vector>

namespace xomni {

using Shape = std::vector<int64_t>;

int64_t shape_numel(const Shape& s);
Shape contiguous_strides(const Shape& s);
std::string shape_str(const Shape& s);
// Normalises a possibly negative dimension index against `ndim`; `op` names the caller.
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op);
// NumPy broadcasting; throws naming `op` and both shapes when they do not broadcast.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

}  // namespace xomni
