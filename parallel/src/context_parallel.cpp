// Context parallelism's load-balanced (zigzag) split of a sequence: rank r of cp holds chunks r
// and 2*cp-1-r of the 2*cp chunks.
#include "xomni/parallel/context_parallel.h"

#include "xomni/core/ops/ops.h"

namespace xomni::parallel {
namespace {

void check_layout(const char* op, int64_t T_padded, int cp, int rank) {
  XOMNI_CHECK(cp >= 1 && rank >= 0 && rank < cp, op, ": rank ", rank, " is not in a cp group of ",
              cp);
  XOMNI_CHECK(T_padded >= 0 && T_padded % (2 * cp) == 0, op, ": length ", T_padded,
              " is not a multiple of 2*cp = ", 2 * cp, " (pad it to zigzag_padded_length)");
}

}  // namespace

int64_t zigzag_padded_length(int64_t T, int cp) {
  XOMNI_CHECK(T >= 0 && cp >= 1, "zigzag_padded_length: need T >= 0 and cp >= 1, got T=", T,
              ", cp=", cp);
  const int64_t m = 2 * int64_t(cp);
  return (T + m - 1) / m * m;
}

std::vector<int64_t> zigzag_indices(int64_t T_padded, int cp, int rank) {
  check_layout("zigzag_indices", T_padded, cp, rank);
  const int64_t C = T_padded / (2 * cp);
  std::vector<int64_t> idx;
  idx.reserve(size_t(2 * C));
  for (int64_t chunk : {int64_t(rank), int64_t(2 * cp - 1 - rank)})
    for (int64_t i = 0; i < C; ++i) idx.push_back(chunk * C + i);
  return idx;
}

Tensor zigzag_positions(int64_t T_padded, int cp, int rank) {
  const std::vector<int64_t> idx = zigzag_indices(T_padded, cp, rank);
  return Tensor::from_vector(idx, {int64_t(idx.size())});
}

Tensor zigzag_take(const Tensor& x, int64_t dim, int cp, int rank) {
  XOMNI_CHECK(dim >= 0 && dim < x.dim(), "zigzag_take: dimension ", dim, " is outside ",
              shape_str(x.shape()));
  check_layout("zigzag_take", x.size(dim), cp, rank);
  const int64_t C = x.size(dim) / (2 * cp), late = 2 * cp - 1 - rank;
  return cat({slice(x, dim, rank * C, (rank + 1) * C), slice(x, dim, late * C, (late + 1) * C)},
             dim)
      .contiguous();
}

Tensor zigzag_restore(const std::vector<Tensor>& parts, int64_t dim) {
  const int64_t cp = int64_t(parts.size());
  XOMNI_CHECK(cp >= 1, "zigzag_restore: no pieces");
  const int64_t L = parts[0].size(dim);
  XOMNI_CHECK(L % 2 == 0, "zigzag_restore: a piece of length ", L, " is not two equal chunks");
  const int64_t C = L / 2;
  std::vector<Tensor> chunks(size_t(2 * cp));
  for (int64_t r = 0; r < cp; ++r) {
    XOMNI_CHECK(parts[size_t(r)].shape() == parts[0].shape(), "zigzag_restore: piece ", r, " is ",
                shape_str(parts[size_t(r)].shape()), ", piece 0 is ", shape_str(parts[0].shape()));
    chunks[size_t(r)] = slice(parts[size_t(r)], dim, 0, C);
    chunks[size_t(2 * cp - 1 - r)] = slice(parts[size_t(r)], dim, C, L);
  }
  return cat(chunks, dim).contiguous();
}

Tensor zigzag_gather(const Tensor& local, int64_t dim, const ContextParallel& cp) {
  if (cp.size() == 1) return local;
  const Tensor in = local.contiguous();
  Shape all = in.shape();
  all.insert(all.begin(), int64_t(cp.size()));
  Tensor out = Tensor::empty(all, in.dtype());
  cp.comm->all_gather(in, out);
  std::vector<Tensor> parts;
  for (int r = 0; r < cp.size(); ++r) parts.push_back(squeeze(slice(out, 0, r, r + 1), 0));
  return zigzag_restore(parts, dim);
}

}  // namespace xomni::parallel
