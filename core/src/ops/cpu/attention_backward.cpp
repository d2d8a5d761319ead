// Attention backward, FlashAttention-2 style: score tiles are recomputed from q, k and the saved
// logsumexp. Work units are (batch, kv head, chunk of key tiles); a unit owns dK and dV of its key
// tiles, loops over the query heads of its group and the query tiles in a fixed order, and
// accumulates dQ into its own buffer, so nothing needs atomics and results are repeatable.
#include <vector>

#include "ops/cpu/attention_tiles.h"
#include "tensor/threading.h"

namespace xomni::attn {
namespace {

template <typename T>
struct Buffers {
  const T* q;
  const T* k;
  const T* v;
  const T* lse;
  const T* di;  // rowsum(dO * O), [B, Hq, Tq]
  const T* dout;
  T* dk;
  T* dv;
  bool need_dq;
};

// Per-thread tiles: kt and vt hold K^T and V^T of the key tile (D x kTileK); s holds P and dp
// holds dP then dS (queries x keys).
template <typename T>
struct Scratch {
  std::vector<T> kt, vt, s, dp;
  explicit Scratch(int64_t d)
      : kt(size_t(d * kTileK)),
        vt(size_t(d * kTileK)),
        s(size_t(kTileQ * kTileK)),
        dp(size_t(kTileQ * kTileK)) {}
};

// One key tile [j0, j0+bk) of kv head hk against every query head of its group. dq_base points
// at the dQ rows of the group's first query head (in dQ itself or in a partial buffer).
template <typename T>
void backward_key_tile(const Problem& p, const Buffers<T>& a, int64_t b, int64_t hk, int64_t j0,
                       T* dq_base, Scratch<T>& w) {
  const int64_t D = p.D, bk = std::min(kTileK, p.Tk - j0);
  const int64_t kv_off = ((b * p.Hkv + hk) * p.Tk + j0) * D;
  const T* kj = a.k + kv_off;
  T* dkj = a.dk ? a.dk + kv_off : nullptr;
  T* dvj = a.dv ? a.dv + kv_off : nullptr;
  T* s = w.s.data();
  T* dp = w.dp.data();
  transpose(kj, bk, D, D, w.kt.data(), kTileK);
  transpose(a.v + kv_off, bk, D, D, w.vt.data(), kTileK);
  const T scale = T(p.scale);
  // The first query that can see key j0 under the causal rule.
  const int64_t i_begin = p.causal ? std::max<int64_t>(0, j0 - p.diag()) : 0;
  for (int64_t g = 0; g < p.group(); ++g) {
    const int64_t h = hk * p.group() + g;
    const int64_t row0 = (b * p.Hq + h) * p.Tq;
    for (int64_t i0 = i_begin / kTileQ * kTileQ; i0 < p.Tq; i0 += kTileQ) {
      const int64_t bq = std::min(kTileQ, p.Tq - i0);
      const TileKind kind = classify(p, b, i0, bq, j0, bk);
      if (kind == TileKind::skip) continue;
      const T* qi = a.q + (row0 + i0) * D;
      const T* doi = a.dout + (row0 + i0) * D;
      gemm(false, false, bq, bk, D, scale, qi, D, w.kt.data(), kTileK, T(0), s, kTileK);
      if (kind == TileKind::masked) apply_mask(p, b, i0, bq, j0, bk, s, kTileK);
      for (int64_t r = 0; r < bq; ++r)  // P; lse is +inf for an empty row, giving 0
        exp_shift(s + r * kTileK, bk, a.lse[row0 + i0 + r]);
      if (dvj) gemm(true, false, bk, D, bq, T(1), s, kTileK, doi, D, T(1), dvj, D);
      if (!dkj && !a.need_dq) continue;
      gemm(false, false, bq, bk, D, T(1), doi, D, w.vt.data(), kTileK, T(0), dp, kTileK);
      for (int64_t r = 0; r < bq; ++r) {
        const T* prow = s + r * kTileK;
        T* row = dp + r * kTileK;
        const T di = a.di[row0 + i0 + r];
#pragma omp simd
        for (int64_t c = 0; c < bk; ++c) row[c] = prow[c] * (row[c] - di);  // dS
      }
      if (dkj) gemm(true, false, bk, D, bq, T(1), dp, kTileK, qi, D, T(1), dkj, D);
      if (a.need_dq)
        gemm(false, false, bq, D, bk, scale, dp, kTileK, kj, D, T(1), dq_base + (g * p.Tq + i0) * D,
             D);
    }
  }
  if (dkj)
    for (int64_t x = 0; x < bk * D; ++x) dkj[x] *= scale;
}

// rowsum(dO * O) per query row, summed in fixed lanes.
template <typename T>
std::vector<T> row_dot(const T* dout, const T* out, int64_t rows, int64_t D) {
  std::vector<T> di(static_cast<size_t>(rows));
  parallel_for(rows, grain_for(D), [&](int64_t r0, int64_t r1) {
    constexpr int kLanes = 8;
    for (int64_t r = r0; r < r1; ++r) {
      const T* x = dout + r * D;
      const T* y = out + r * D;
      T acc[kLanes] = {};
      int64_t d = 0;
      for (; d + kLanes <= D; d += kLanes)
        for (int l = 0; l < kLanes; ++l) acc[l] += x[d + l] * y[d + l];
      for (int l = 0; d < D; ++d, ++l) acc[l] += x[d] * y[d];
      T sum = 0;
      for (int l = 0; l < kLanes; ++l) sum += acc[l];
      di[size_t(r)] = sum;
    }
  });
  return di;
}

}  // namespace

template <typename T>
void backward(const Problem& p, const T* q, const T* k, const T* v, const T* out, const T* lse,
              const T* dout, T* dq, T* dk, T* dv) {
  const int64_t D = p.D, group = p.group(), nkt = ceil_div(p.Tk, kTileK);
  const std::vector<T> di = row_dot(dout, out, p.B * p.Hq * p.Tq, D);
  const Buffers<T> a{q, k, v, lse, di.data(), dout, dk, dv, dq != nullptr};
  // With fewer (batch, kv head) pairs than threads, the key tiles of a pair are dealt to
  // `chunks` units (tile t to chunk t % chunks, which balances causal work); chunk c > 0
  // accumulates dQ into a private buffer, added to dQ in chunk order afterwards.
  const int64_t pairs = p.B * p.Hkv;
  // Five products of Tq x Tk x D per query head; small problems stay on one thread.
  const int64_t work = 5 * p.B * p.Hq * p.Tq * p.Tk * p.D;
  const int64_t threads =
      omp_in_parallel() ? 1
                        : std::clamp<int64_t>(work / kMinParallelWork, 1, omp_get_max_threads());
  const int64_t chunks =
      pairs >= threads ? 1 : std::clamp<int64_t>(ceil_div(threads, pairs), 1, nkt);
  const int64_t group_rows = group * p.Tq * D;  // dQ elements of one kv head's query heads
  std::vector<T> partial(dq && chunks > 1 ? size_t(pairs * (chunks - 1) * group_rows) : 0);
  parallel_for(pairs * chunks, grain_for(work / (pairs * chunks)), [&](int64_t u0, int64_t u1) {
    Scratch<T> w(D);
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t pair = u / chunks, c = u % chunks;
      T* dq_base = nullptr;
      if (dq)
        dq_base = c == 0 ? dq + pair * group_rows
                         : partial.data() + (pair * (chunks - 1) + c - 1) * group_rows;
      for (int64_t t = c; t < nkt; t += chunks)
        backward_key_tile(p, a, pair / p.Hkv, pair % p.Hkv, t * kTileK, dq_base, w);
    }
  });
  if (dq && chunks > 1)
    parallel_for(pairs * group_rows, 1 << 16, [&](int64_t x0, int64_t x1) {
      for (int64_t x = x0; x < x1; ++x) {
        const int64_t pair = x / group_rows, e = x % group_rows;
        T acc = dq[x];
        for (int64_t c = 1; c < chunks; ++c)
          acc += partial[size_t((pair * (chunks - 1) + c - 1) * group_rows + e)];
        dq[x] = acc;
      }
    });
}

template void backward<float>(const Problem&, const float*, const float*, const float*,
                              const float*, const float*, const float*, float*, float*, float*);
template void backward<double>(const Problem&, const double*, const double*, const double*,
                               const double*, const double*, const double*, double*, double*,
                               double*);

}  // namespace xomni::attn
