// The bf16 GEMM: both operands are rounded to bf16 and packed into tiles (A: 16 rows x 32 k;
// B: 16 k-pairs x 16 columns x 2, the "VNNI" pair layout the bf16 dot products read), zero-padded
// to multiples of 32 in m, n and k; then every 32x32 block of C is four 16x16 fp32 accumulators
// over the k chunks (AMX tiles, or AVX512-BF16 registers where AMX is missing). Only functions
// marked with a target attribute use the wide instructions, so the rest runs on any x86-64.
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's AVX-512 headers start some intrinsics from _mm512_undefined_*(), which its
// -Wmaybe-uninitialized reports once they are inlined into a target-attribute function.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "tensor/threading.h"
#include "xomni/core/ops/bf16_gemm.h"
#include "xomni/core/tensor/dtype.h"
#include "xomni/core/tensor/error.h"

#define XOMNI_AVX512 __attribute__((target("avx512f,avx512bw")))
#define XOMNI_AVX512_BF16 __attribute__((target("avx512f,avx512bw,avx512bf16")))
#define XOMNI_AMX __attribute__((target("avx512f,avx512bw,amx-tile,amx-bf16")))

namespace xomni {
namespace {

constexpr int64_t kTile = 512;  // bf16 elements in one packed 16x32 tile (1 KiB)

int64_t round_up(int64_t v, int64_t to) {
  return (v + to - 1) / to * to;
}

// ---- detection ----------------------------------------------------------------------------

uint64_t xcr0() {
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t(hi) << 32) | lo;
}

Bf16Kernel detect() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid_count(1, 0, &a, &b, &c, &d) || !(c & (1u << 27))) return Bf16Kernel::none;
  const uint64_t xcr = xcr0();
  // The OS saves SSE/AVX (bits 1, 2) and the AVX-512 state (opmask, ZMM halves: bits 5-7).
  if ((xcr & 0xe6) != 0xe6) return Bf16Kernel::none;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return Bf16Kernel::none;
  const bool avx512f = b & (1u << 16), avx512bw = b & (1u << 30);
  const bool amx_bf16 = d & (1u << 22), amx_tile = d & (1u << 24);
  if (!avx512f || !avx512bw) return Bf16Kernel::none;
  unsigned a1 = 0, b1 = 0, c1 = 0, d1 = 0;
  const bool avx512_bf16 = __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1) && (a1 & (1u << 5));
  // AMX: the OS must enable the tile state (XCR0 bits 17, 18) and grant this process its use.
  constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  if (amx_bf16 && amx_tile && (xcr & (3ull << 17)) == (3ull << 17) &&
      syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0)
    return Bf16Kernel::amx;
  return avx512_bf16 ? Bf16Kernel::avx512_bf16 : Bf16Kernel::none;
}

// ---- packing --------------------------------------------------------------------------------

// An operand as op(X)[row, col] = p[row * rs + col * cs].
struct View {
  const float* p;
  int64_t rs, cs, rows, cols;
  float at(int64_t r, int64_t c) const { return p[r * rs + c * cs]; }
};

// 16 floats rounded to bf16 exactly as float_to_bf16 (nearest even, NaN kept quiet), returned in
// the high half of each 32-bit lane (the low half zero).
XOMNI_AVX512 __m512i bf16_high(__m512 x) {
  const __m512i u = _mm512_castps_si512(x);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff)));
  const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
                                                _mm512_set1_epi32(0x7f800000));
  r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(u, _mm512_set1_epi32(0x00400000)));
  return _mm512_and_si512(r, _mm512_set1_epi32(int(0xffff0000u)));
}
XOMNI_AVX512 __m256i bf16_16(const float* x) {
  return _mm512_cvtepi32_epi16(_mm512_srli_epi32(bf16_high(_mm512_loadu_ps(x)), 16));
}

// A tile: t[r * 32 + kk] = op(A)[i0 + r, p0 + kk], zero outside.
XOMNI_AVX512 void pack_a_tile(const View& A, int64_t i0, int64_t p0, uint16_t* t) {
  const bool full = i0 + 16 <= A.rows && p0 + 32 <= A.cols;
  if (full && A.cs == 1) {  // rows contiguous in k
    for (int64_t r = 0; r < 16; ++r) {
      const float* src = A.p + (i0 + r) * A.rs + p0;
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(t + r * 32), bf16_16(src));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(t + r * 32 + 16), bf16_16(src + 16));
    }
  } else if (full && A.rs == 1) {  // columns contiguous in m: convert, then transpose
    alignas(64) uint16_t tmp[32 * 16];
    for (int64_t kk = 0; kk < 32; ++kk)
      _mm256_store_si256(reinterpret_cast<__m256i*>(tmp + kk * 16),
                         bf16_16(A.p + (p0 + kk) * A.cs + i0));
    for (int64_t r = 0; r < 16; ++r)
      for (int64_t kk = 0; kk < 32; ++kk) t[r * 32 + kk] = tmp[kk * 16 + r];
  } else {
    for (int64_t r = 0; r < 16; ++r)
      for (int64_t kk = 0; kk < 32; ++kk) {
        const int64_t i = i0 + r, p = p0 + kk;
        t[r * 32 + kk] = i < A.rows && p < A.cols ? float_to_bf16(A.at(i, p)).bits : 0;
      }
  }
}

// B tile in pairs: t[pp * 32 + j * 2 + h] = op(B)[p0 + 2 pp + h, j0 + j], zero outside.
XOMNI_AVX512 void pack_b_tile(const View& B, int64_t p0, int64_t j0, uint16_t* t) {
  const bool full = p0 + 32 <= B.rows && j0 + 16 <= B.cols;
  if (full && B.cs == 1) {  // rows contiguous in n: two rows make one row of pairs
    for (int64_t pp = 0; pp < 16; ++pp) {
      const float* r0 = B.p + (p0 + 2 * pp) * B.rs + j0;
      const __m512i lo = _mm512_srli_epi32(bf16_high(_mm512_loadu_ps(r0)), 16);
      const __m512i hi = bf16_high(_mm512_loadu_ps(r0 + B.rs));
      _mm512_storeu_si512(t + pp * 32, _mm512_or_si512(lo, hi));
    }
  } else if (full && B.rs == 1) {  // columns contiguous in k: each column is 16 pairs
    alignas(64) uint32_t tmp[16 * 16];
    for (int64_t j = 0; j < 16; ++j) {
      const float* col = B.p + (j0 + j) * B.cs + p0;
      _mm256_store_si256(reinterpret_cast<__m256i*>(tmp + j * 16), bf16_16(col));
      _mm256_store_si256(reinterpret_cast<__m256i*>(tmp + j * 16 + 8), bf16_16(col + 16));
    }
    uint32_t* t32 = reinterpret_cast<uint32_t*>(t);
    for (int64_t pp = 0; pp < 16; ++pp)
      for (int64_t j = 0; j < 16; ++j) t32[pp * 16 + j] = tmp[j * 16 + pp];
  } else {
    for (int64_t pp = 0; pp < 16; ++pp)
      for (int64_t j = 0; j < 16; ++j)
        for (int64_t h = 0; h < 2; ++h) {
          const int64_t p = p0 + 2 * pp + h, jj = j0 + j;
          t[pp * 32 + j * 2 + h] = p < B.rows && jj < B.cols ? float_to_bf16(B.at(p, jj)).bits : 0;
        }
  }
}

// ---- compute --------------------------------------------------------------------------------

// One thread's packed share: tile (mt, kc) of its A rows at a + (mt * kc_n + kc) * kTile, tile
// (nt, kc) of its B columns alike.
struct Packed {
  const uint16_t* a;
  const uint16_t* b;
  int64_t kc_n;
  int64_t mb0, nb0;  // the first 32-row / 32-column block of C that these tiles cover
};

// C[i0.., j0..] = (beta ? C : 0) + the 32x32 block in buf (row stride 32), clipped to m x n.
XOMNI_AVX512 void write_block(const float* buf, int64_t i0, int64_t j0, int64_t m, int64_t n,
                              float beta, float* c, int64_t ldc) {
  const int64_t rows = m - i0 < 32 ? m - i0 : 32, cols = n - j0 < 32 ? n - j0 : 32;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t h = 0; h < cols; h += 16) {
      const int64_t w = cols - h < 16 ? cols - h : 16;
      const __mmask16 mask = __mmask16((1u << w) - 1);
      float* dst = c + (i0 + r) * ldc + j0 + h;
      __m512 v = _mm512_loadu_ps(buf + r * 32 + h);
      if (beta != 0) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, dst));
      _mm512_mask_storeu_ps(dst, mask, v);
    }
}

struct TileConfig {
  uint8_t palette = 1, start_row = 0, reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Blocks [lo, hi) of the share's (n-major) 32x32 block grid with AMX: tmm0-3 accumulate, tmm4/5
// hold two A tiles, tmm6/7 two B tiles.
XOMNI_AMX void blocks_amx(const Packed& pk, int64_t mb_n, int64_t lo, int64_t hi, int64_t m,
                          int64_t n, float beta, float* c, int64_t ldc) {
  TileConfig cfg;
  for (int i = 0; i < 8; ++i) {
    cfg.rows[i] = 16;
    cfg.colsb[i] = 64;
  }
  _tile_loadconfig(&cfg);
  alignas(64) float buf[32 * 32];
  for (int64_t blk = lo; blk < hi; ++blk) {
    const int64_t nb = blk / mb_n, mb = blk % mb_n;
    const uint16_t* a0 = pk.a + (2 * mb) * pk.kc_n * kTile;
    const uint16_t* a1 = a0 + pk.kc_n * kTile;
    const uint16_t* b0 = pk.b + (2 * nb) * pk.kc_n * kTile;
    const uint16_t* b1 = b0 + pk.kc_n * kTile;
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (int64_t kc = 0; kc < pk.kc_n; ++kc) {
      _tile_loadd(4, a0 + kc * kTile, 64);
      _tile_loadd(5, a1 + kc * kTile, 64);
      _tile_loadd(6, b0 + kc * kTile, 64);
      _tile_loadd(7, b1 + kc * kTile, 64);
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(1, 4, 7);
      _tile_dpbf16ps(2, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, buf, 128);
    _tile_stored(1, buf + 16, 128);
    _tile_stored(2, buf + 16 * 32, 128);
    _tile_stored(3, buf + 16 * 32 + 16, 128);
    write_block(buf, 32 * (pk.mb0 + mb), 32 * (pk.nb0 + nb), m, n, beta, c, ldc);
  }
  _tile_release();
}

// The same blocks with AVX512-BF16: 8 rows x 32 columns of accumulators at a time; each step
// broadcasts one (k, k+1) pair of A against a row of B pairs.
XOMNI_AVX512_BF16 void blocks_avx512(const Packed& pk, int64_t mb_n, int64_t lo, int64_t hi,
                                     int64_t m, int64_t n, float beta, float* c, int64_t ldc) {
  alignas(64) float buf[32 * 32];
  for (int64_t blk = lo; blk < hi; ++blk) {
    const int64_t nb = blk / mb_n, mb = blk % mb_n;
    const uint16_t* b0 = pk.b + (2 * nb) * pk.kc_n * kTile;
    const uint16_t* b1 = b0 + pk.kc_n * kTile;
    for (int64_t r0 = 0; r0 < 32; r0 += 8) {
      // Rows r0..r0+7 of the block lie in one A tile (16 rows).
      const uint16_t* at = pk.a + (2 * mb + r0 / 16) * pk.kc_n * kTile + (r0 % 16) * 32;
      __m512 acc[8][2];
      for (int r = 0; r < 8; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
      for (int64_t kc = 0; kc < pk.kc_n; ++kc) {
        const uint16_t* ak = at + kc * kTile;
        for (int64_t pp = 0; pp < 16; ++pp) {
          const __m512bh x0 = (__m512bh)_mm512_loadu_si512(b0 + kc * kTile + pp * 32);
          const __m512bh x1 = (__m512bh)_mm512_loadu_si512(b1 + kc * kTile + pp * 32);
          for (int r = 0; r < 8; ++r) {
            uint32_t pair;
            std::memcpy(&pair, ak + r * 32 + 2 * pp, 4);
            const __m512bh y = (__m512bh)_mm512_set1_epi32(int(pair));
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], y, x0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], y, x1);
          }
        }
      }
      for (int r = 0; r < 8; ++r) {
        _mm512_store_ps(buf + (r0 + r) * 32, acc[r][0]);
        _mm512_store_ps(buf + (r0 + r) * 32 + 16, acc[r][1]);
      }
    }
    write_block(buf, 32 * (pk.mb0 + mb), 32 * (pk.nb0 + nb), m, n, beta, c, ldc);
  }
}

}  // namespace

const char* bf16_kernel_name(Bf16Kernel k) {
  switch (k) {
    case Bf16Kernel::amx:
      return "AMX";
    case Bf16Kernel::avx512_bf16:
      return "AVX512-BF16";
    case Bf16Kernel::none:
      break;
  }
  return "none";
}

Bf16Kernel bf16_kernel_detected() {
  static const Bf16Kernel k = detect();
  return k;
}

void gemm_bf16(Bf16Kernel kernel, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a,
               int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  const Bf16Kernel have = bf16_kernel_detected();
  XOMNI_CHECK(kernel != Bf16Kernel::none && (kernel == have || (kernel == Bf16Kernel::avx512_bf16 &&
                                                                have == Bf16Kernel::amx)),
              "gemm_bf16: the ", bf16_kernel_name(kernel),
              " kernel cannot run on this CPU (it has: ", bf16_kernel_name(have), ")");
  XOMNI_CHECK(m >= 0 && n >= 0 && k >= 0 && (beta == 0 || beta == 1), "gemm_bf16: m ", m, ", n ", n,
              ", k ", k, ", beta ", beta, " (sizes >= 0, beta 0 or 1)");
  if (m == 0 || n == 0) return;
  const int64_t kc_n = round_up(k, 32) / 32;
  const View A{a, ta ? 1 : lda, ta ? lda : 1, m, k};
  const View B{b, tb ? 1 : ldb, tb ? ldb : 1, k, n};
  // One fork per call: the grid of 32x32 blocks is split along its longer side, and each thread
  // packs the part of the split operand it needs and all of the other (repeating that small
  // share of the packing is cheaper than waiting at a barrier on a busy machine).
  const int64_t mb_n = round_up(m, 32) / 32, nb_n = round_up(n, 32) / 32;
  const bool split_n = nb_n >= mb_n;
  parallel_for(split_n ? nb_n : mb_n, 1, [&](int64_t lo, int64_t hi) {
    const int64_t mb0 = split_n ? 0 : lo, mb1 = split_n ? mb_n : hi;
    const int64_t nb0 = split_n ? lo : 0, nb1 = split_n ? hi : nb_n;
    const int64_t a_tiles = 2 * (mb1 - mb0) * kc_n, b_tiles = 2 * (nb1 - nb0) * kc_n;
    // The packers write every element (padding included), so the buffers need no clearing; each
    // thread keeps its own to spare the page faults of fresh allocations on every call.
    thread_local std::vector<uint16_t> a_buf, b_buf;
    if (a_buf.size() < size_t(a_tiles * kTile)) a_buf.resize(size_t(a_tiles * kTile));
    if (b_buf.size() < size_t(b_tiles * kTile)) b_buf.resize(size_t(b_tiles * kTile));
    for (int64_t t = 0; t < a_tiles; ++t)
      pack_a_tile(A, (2 * mb0 + t / kc_n) * 16, (t % kc_n) * 32, a_buf.data() + t * kTile);
    for (int64_t t = 0; t < b_tiles; ++t)
      pack_b_tile(B, (t % kc_n) * 32, (2 * nb0 + t / kc_n) * 16, b_buf.data() + t * kTile);
    const Packed pk{a_buf.data(), b_buf.data(), kc_n, mb0, nb0};
    // A zero-length k leaves zero accumulators: C = 0 (beta 0) or C unchanged (beta 1).
    const int64_t share_mb = mb1 - mb0, blocks = share_mb * (nb1 - nb0);
    if (kernel == Bf16Kernel::amx)
      blocks_amx(pk, share_mb, 0, blocks, m, n, beta, c, ldc);
    else
      blocks_avx512(pk, share_mb, 0, blocks, m, n, beta, c, ldc);
  });
}

}  // namespace xomni
