#pragma once
// Context parallelism: each sequence is split over the CP group. The padded sequence is cut into
// 2*cp equal chunks and rank r holds chunks r and 2*cp-1-r (in that order), so under a causal
// mask every rank has the same amount of attention work (one early chunk, one late chunk).
// Attention over the whole sequence is ring attention: K/V blocks travel around the group and
// the partial results are merged with log-sum-exp.
//
// Padding: a sequence of length T is padded to zigzag_padded_length(T, cp). Pad tokens sit after
// every real token, so under a causal mask no real query sees them. With segment ids (packed
// documents), give pad tokens an id no real token has (e.g. -1) so they form their own document;
// without segment ids and without the causal mask they would be visible. Their loss must be
// ignored (targets -100), which also keeps their gradient out of the real tokens.
//
// RoPE: rotate q/k with the tokens' global positions (zigzag_positions), not the local ones.
#include <cstdint>
#include <optional>
#include <vector>

#include "xomni/core/tensor/tensor.h"
#include "xomni/parallel/comm.h"

namespace xomni::parallel {

struct ContextParallel {
  Communicator* comm = nullptr;  // the cp group; nullptr = one rank
  int size() const { return comm ? comm->size() : 1; }
  int rank() const { return comm ? comm->rank() : 0; }
};

// The smallest multiple of 2*cp that is >= T.
int64_t zigzag_padded_length(int64_t T, int cp);
// The global indices (positions) of the tokens `rank` holds: chunk `rank`, then chunk
// 2*cp-1-rank, each T_padded/(2*cp) long. T_padded must be a multiple of 2*cp.
std::vector<int64_t> zigzag_indices(int64_t T_padded, int cp, int rank);
// The same as an i64 tensor [T_padded/cp], for rope().
Tensor zigzag_positions(int64_t T_padded, int cp, int rank);
// This rank's tokens of x along `dim` (x.size(dim) = T_padded): [.., T_padded/cp, ..], a copy.
// Differentiable (slices and a cat).
Tensor zigzag_take(const Tensor& x, int64_t dim, int cp, int rank);
// The inverse: parts[r] is rank r's piece along `dim`; returns the full padded sequence
// (cp = parts.size()). Differentiable.
Tensor zigzag_restore(const std::vector<Tensor>& parts, int64_t dim);
// All-gathers every rank's piece over the cp group and restores the full padded sequence
// (no autograd; for evaluation and tests).
Tensor zigzag_gather(const Tensor& local, int64_t dim, const ContextParallel& cp);

struct RingAttentionOptions {
  bool causal = true;
  // [B, L] document ids (i32/i64) of this rank's tokens: a query sees only keys of its own
  // document. Optional. Pad tokens need an id of their own (see above).
  Tensor segment_ids;
  std::optional<double> scale;  // default 1/sqrt(D)
};

// q [B, Hq, L, D], k and v [B, Hkv, L, D]: this rank's zigzag tokens (L = T_padded/cp, its two
// chunks in order), Hq % Hkv == 0. Returns this rank's rows of attention over the whole
// sequence, [B, Hq, L, D]. An autograd op: gradients flow to q, k and v; its backward runs the
// ring again, so every rank of the group must call forward and backward in the same order.
// Forward sends cp-1 K/V messages (plus cp-1 segment-id messages with segment ids) to the next
// rank and receives as many from the previous one; backward sends cp-1 K/V/dK/dV messages and one
// final dK/dV message. With one rank it is scaled_dot_product_attention.
Tensor ring_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                      const RingAttentionOptions& opt, const ContextParallel& cp);

}  // namespace xomni::parallel
