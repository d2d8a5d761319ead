// Decomposition of a flat range of a box into boxes: per dimension, a partial leading row
// (recursively), a block of full rows and a partial trailing row (recursively).
#include "io/checkpoint_box_range.h"

#include "xomni/core/tensor/error.h"

namespace xomni::ckpt {

namespace {
// Adds the boxes of [begin, end) of the sub-box at dims d.. whose leading indices are `prefix`
// (one fixed index per dim < d). inner[d] is the element count of one row at dim d.
void decompose(const Shape& shape, const Shape& inner, Shape& prefix, int64_t begin, int64_t end,
               std::vector<Box>& out) {
  if (begin >= end) return;
  const size_t d = prefix.size(), ndim = shape.size();
  const int64_t row = inner[d];
  auto emit = [&](int64_t r0, int64_t r1) {  // rows [r0, r1) of dim d, whole below it
    Box b;
    b.offset = prefix;
    b.shape.assign(d, 1);
    b.offset.push_back(r0);
    b.shape.push_back(r1 - r0);
    for (size_t k = d + 1; k < ndim; ++k) {
      b.offset.push_back(0);
      b.shape.push_back(shape[k]);
    }
    out.push_back(std::move(b));
  };
  auto recurse = [&](int64_t r, int64_t b, int64_t e) {  // [b, e) inside row r
    prefix.push_back(r);
    decompose(shape, inner, prefix, b - r * row, e - r * row, out);
    prefix.pop_back();
  };
  const int64_t first_full = (begin + row - 1) / row;  // first row starting at or after begin
  const int64_t last_full = end / row;                 // rows before it end at or before end
  if (first_full > last_full) {                        // strictly inside one row
    recurse(begin / row, begin, end);
    return;
  }
  if (begin < first_full * row) recurse(first_full - 1, begin, first_full * row);
  if (last_full > first_full) emit(first_full, last_full);
  if (end > last_full * row) recurse(last_full, last_full * row, end);
}
}  // namespace

std::vector<Box> flat_range_boxes(const Shape& shape, int64_t begin, int64_t end) {
  const int64_t n = shape_numel(shape);
  XOMNI_CHECK(0 <= begin && begin <= end && end <= n, "flat_range_boxes: range [", begin, ", ", end,
              ") is not inside a box of shape ", shape_str(shape), " (", n, " elements)");
  std::vector<Box> out;
  if (begin == end) return out;
  if (shape.empty()) return {Box{}};
  // inner[d]: elements in one index step of dim d (the product of the later dims).
  Shape inner(shape.size(), 1);
  for (size_t d = shape.size() - 1; d > 0; --d) inner[d - 1] = inner[d] * shape[d];
  Shape prefix;
  decompose(shape, inner, prefix, begin, end, out);
  return out;
}

void check_box_range(const Shape& global, const Shape& box_offset, const Shape& box_shape,
                     int64_t begin, int64_t end, const std::string& where) {
  const size_t ndim = global.size();
  XOMNI_CHECK(box_offset.size() == ndim && box_shape.size() == ndim, where, " has shape ",
              shape_str(global), "; a box of shape ", shape_str(box_shape), " at offset ",
              shape_str(box_offset), " does not match its rank");
  for (size_t d = 0; d < ndim; ++d)
    XOMNI_CHECK(
        box_offset[d] >= 0 && box_shape[d] >= 0 && box_offset[d] + box_shape[d] <= global[d], where,
        " has shape ", shape_str(global), "; the box of shape ", shape_str(box_shape),
        " at offset ", shape_str(box_offset), " does not fit (dim ", d, ")");
  const int64_t n = shape_numel(box_shape);
  XOMNI_CHECK(0 <= begin && begin <= end && end <= n, where, ": the range [", begin, ", ", end,
              ") is not inside the box of shape ", shape_str(box_shape), " (", n, " elements)");
}

}  // namespace xomni::ckpt
