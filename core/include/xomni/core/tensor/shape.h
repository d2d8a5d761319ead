#pragma once
// Shapes, strides and the broadcasting rule.
#include <cstdint>
#include <string>
#include <vector>

namespace xomni {

using Shape = std::vector<int64_t>;

// The element count; throws when the product of the dimensions does not fit in int64_t.
int64_t shape_numel(const Shape& s);
// a * b, or an Error "<what>: a x b overflows 64 bits" (what names the size being computed, e.g.
// "KV cache of model.num_hidden_layers=..."). Every size built from user input goes through these.
int64_t checked_mul(int64_t a, int64_t b, const std::string& what);
int64_t checked_add(int64_t a, int64_t b, const std::string& what);
// shape_numel that names `what` and the shape when a dimension is negative or the count overflows.
int64_t checked_numel(const Shape& s, const std::string& what);
// checked_numel(s) * elem_size bytes, checked the same way.
int64_t checked_nbytes(const Shape& s, size_t elem_size, const std::string& what);
// A byte count for messages: "123 bytes", "4.0 GiB", "16.0 EiB".
std::string human_bytes(double nbytes);
Shape contiguous_strides(const Shape& s);
std::string shape_str(const Shape& s);
// Normalises a possibly negative dimension index against `ndim`; `op` names the caller.
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op);
// NumPy broadcasting; throws naming `op` and both shapes when they do not broadcast.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

}  // namespace xomni
