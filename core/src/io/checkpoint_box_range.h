#pragma once
// A flat element range of a box as a few boxes: with ZeRO-1 a rank owns a contiguous run of its
// tensor-parallel shard's row-major flattening, which the checkpoint writes as one HDF5 selection.
#include <string>
#include <vector>

#include "xomni/core/tensor/shape.h"

namespace xomni::ckpt {

struct Box {
  Shape offset;
  Shape shape;
};

// Boxes, in row-major order, that together hold exactly elements [begin, end) of the row-major
// flattening of a box of shape `shape`; offsets are relative to that box. At most 2 * ndim - 1
// boxes (1 for a scalar), none empty; no boxes when begin == end. Lexicographic order does not
// change under translation, so the range's elements in flat order are the boxes' elements in the
// enclosing tensor's row-major order too.
std::vector<Box> flat_range_boxes(const Shape& shape, int64_t begin, int64_t end);

// Throws an Error naming `where` unless the box [box_offset, box_offset + box_shape) lies inside
// `global` and 0 <= begin <= end <= numel(box_shape).
void check_box_range(const Shape& global, const Shape& box_offset, const Shape& box_shape,
                     int64_t begin, int64_t end, const std::string& where);

}  // namespace xomni::ckpt
