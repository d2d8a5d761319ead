#pragma once
// Corrupted token grids, the negatives of the realism data: a copy of an image's codes damaged in
// one of three ways, chosen and shaped by a seed (a pure function of (seed, codes), so the data
// command writes the same dataset every time):
//   replace  a fraction f ~ U[0.25, 1] of the positions get uniformly random codes
//   shuffle  the grid's rows are permuted, or (half the time) its 2x2 blocks of codes
//   repeat   one code (from the grid) fills a rectangle of at least half the grid's height and
//   width
#include <cstdint>
#include <string>
#include <vector>

namespace xomni::realism {

struct CorruptedCodes {
  std::vector<int64_t> ids;  // h * w, row-major
  std::string description;   // e.g. "replace 0.43", "shuffle rows", "repeat 5x3"
};

// `ids` is an h x w grid of codes in [0, codebook_size).
CorruptedCodes corrupt_codes(const std::vector<int64_t>& ids, int64_t h, int64_t w,
                             int64_t codebook_size, uint64_t seed);

}  // namespace xomni::realism
