// Attention forward, FlashAttention-2 style: each (batch, query head, query tile) walks the key
// tiles with an online softmax (running max and sum per row), so only one tile of scores exists
// per thread. Saves the output and the per-row logsumexp for the backward.
#include <memory>
#include <vector>

#include "ops/cpu/attention_tiles.h"
#include "tensor/threading.h"

namespace xomni::attn {
namespace {

// Visits query tiles small, large, small, ... so the contiguous unit ranges that
// parallel_for hands to threads carry similar causal work.
int64_t zigzag(int64_t t, int64_t n) {
  return t % 2 == 0 ? t / 2 : n - 1 - t / 2;
}

template <typename T>
struct Scratch {
  std::vector<T> s, o, m, l;
  explicit Scratch(int64_t d)
      : s(size_t(kTileQ * kTileK)), o(size_t(kTileQ * d)), m(size_t(kTileQ)), l(size_t(kTileQ)) {}
};

// kt holds K^T tile by tile: [B, Hkv, key tiles, D, kTileK].
template <typename T>
void forward_tile(const Problem& p, const T* q, const T* kt, const T* v, T* out, T* lse, int64_t b,
                  int64_t h, int64_t qt, Scratch<T>& w) {
  constexpr T kInf = std::numeric_limits<T>::infinity();
  const int64_t D = p.D, i0 = qt * kTileQ, bq = std::min(kTileQ, p.Tq - i0);
  const int64_t hk = h / p.group();
  const T* qi = q + ((b * p.Hq + h) * p.Tq + i0) * D;
  const T* ktb = kt + (b * p.Hkv + hk) * ceil_div(p.Tk, kTileK) * D * kTileK;
  const T* vb = v + (b * p.Hkv + hk) * p.Tk * D;
  T* s = w.s.data();
  T* o = w.o.data();
  std::fill(w.m.begin(), w.m.end(), -kInf);
  std::fill(w.l.begin(), w.l.end(), T(0));
  std::fill(w.o.begin(), w.o.end(), T(0));
  // Keys past the causal limit of the tile's last query are never visible.
  int64_t k_end = p.Tk;
  if (p.causal) k_end = std::clamp<int64_t>(i0 + bq + p.diag(), 0, p.Tk);
  for (int64_t j0 = 0; j0 < k_end; j0 += kTileK) {
    const int64_t bk = std::min(kTileK, p.Tk - j0);
    const TileKind kind = classify(p, b, i0, bq, j0, bk);
    if (kind == TileKind::skip) continue;
    gemm(false, false, bq, bk, D, T(p.scale), qi, D, ktb + j0 * D, kTileK, T(0), s, kTileK);
    if (kind == TileKind::masked) apply_mask(p, b, i0, bq, j0, bk, s, kTileK);
    for (int64_t r = 0; r < bq; ++r) {
      T* row = s + r * kTileK;
      const T m_new = std::max(w.m[r], row_max(row, bk));
      if (m_new == -kInf) {  // nothing visible yet: the row adds nothing to P V
        std::fill(row, row + bk, T(0));
        continue;
      }
      const T alpha = std::exp(w.m[r] - m_new);  // 0 when the old max is -inf
      w.l[r] = w.l[r] * alpha + exp_shift_sum(row, bk, m_new);
      w.m[r] = m_new;
      if (alpha != T(1)) {
        T* orow = o + r * D;
        for (int64_t d = 0; d < D; ++d) orow[d] *= alpha;
      }
    }
    gemm(false, false, bq, D, bk, T(1), s, kTileK, vb + j0 * D, D, T(1), o, D);
  }
  T* oi = out + ((b * p.Hq + h) * p.Tq + i0) * D;
  T* li = lse + (b * p.Hq + h) * p.Tq + i0;
  for (int64_t r = 0; r < bq; ++r) {
    const T l = w.l[r];
    const T inv = l > T(0) ? T(1) / l : T(0);
    for (int64_t d = 0; d < D; ++d) oi[r * D + d] = o[r * D + d] * inv;
    li[r] = l > T(0) ? w.m[r] + std::log(l) : kInf;
  }
}

}  // namespace

template <typename T>
void forward(const Problem& p, const T* q, const T* k, const T* v, T* out, T* lse) {
  const int64_t nqt = ceil_div(p.Tq, kTileQ);
  // K^T once per call, tile by tile (about the size of K), so every score product is NN with
  // a compact right operand.
  const int64_t nkt = ceil_div(p.Tk, kTileK);
  std::unique_ptr<T[]> kt(new T[size_t(p.B * p.Hkv * nkt * p.D * kTileK)]);  // uninitialised
  parallel_for(p.B * p.Hkv * nkt, grain_for(kTileK * p.D), [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t j0 = u % nkt * kTileK;
      transpose(k + (u / nkt * p.Tk + j0) * p.D, std::min(kTileK, p.Tk - j0), p.D, p.D,
                kt.get() + u * p.D * kTileK, kTileK);
    }
  });
  // Each unit holds one query tile against (at most) every key: 2 products of kTileQ x Tk x D.
  const int64_t grain = grain_for(2 * kTileQ * p.Tk * p.D);
  parallel_for(p.B * p.Hq * nqt, grain, [&](int64_t u0, int64_t u1) {
    Scratch<T> w(p.D);
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t bh = u / nqt, qt = zigzag(u % nqt, nqt);
      forward_tile(p, q, kt.get(), v, out, lse, bh / p.Hq, bh % p.Hq, qt, w);
    }
  });
}

template void forward<float>(const Problem&, const float*, const float*, const float*, float*,
                             float*);
template void forward<double>(const Problem&, const double*, const double*, const double*, double*,
                              double*);

}  // namespace xomni::attn
