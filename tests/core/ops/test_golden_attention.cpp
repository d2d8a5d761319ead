// Golden scaled_dot_product_attention against a hand-written reference in PyTorch 1.13
// (fixtures/attention.xtf, make_fixtures.py: softmax(q k^T * scale + mask) v, kv heads repeated
// as HF repeat_kv so query head h reads kv head h / (Hq / Hkv), rows with no visible key
// output 0). Cases: plain, causal with GQA, key padding with Tq != Tk, packed segments under a
// causal mask, segments with a query whose document has no key, an explicit scale, left padding
// that leaves causal rows empty, T = 130 with GQA 2:1, and q/k/v given as [B, T, H, D] tensors
// transposed to [B, H, T, D]. Tolerance: f32 1e-5 of scaled_max_error (D <= 8 dot products and
// an online softmax over at most 130 keys); f64 run 1e-6.
#include <gtest/gtest.h>

#include "check.h"

using namespace xomni;
using test::GoldenCase;
using V = std::vector<Tensor>;

namespace {
std::vector<GoldenCase> cases() {
  const auto plain = [](bool causal) {
    return [causal](const V& x) {
      AttentionOptions o;
      o.causal = causal;
      return scaled_dot_product_attention(x[0], x[1], x[2], o);
    };
  };
  const auto padded = [](bool causal) {
    return [causal](const V& x) {
      AttentionOptions o;
      o.causal = causal;
      o.key_padding_mask = x[3];
      return scaled_dot_product_attention(x[0], x[1], x[2], o);
    };
  };
  const auto segments = [](bool causal) {
    return [causal](const V& x) {
      AttentionOptions o;
      o.causal = causal;
      o.q_segment_ids = x[3];
      o.k_segment_ids = x[4];
      return scaled_dot_product_attention(x[0], x[1], x[2], o);
    };
  };
  return {
      {"attn_plain", {"q", "k", "v"}, plain(false)},
      {"attn_causal_gqa", {"q", "k", "v"}, plain(true)},
      {"attn_pad", {"q", "k", "v", "kpm"}, padded(false)},
      {"attn_seg_causal", {"q", "k", "v", "qseg", "kseg"}, segments(true)},
      {"attn_seg_cross", {"q", "k", "v", "qseg", "kseg"}, segments(false)},
      {"attn_scale",
       {"q", "k", "v"},
       [](const V& x) {
         AttentionOptions o;
         o.causal = true;
         o.scale = 0.3;
         return scaled_dot_product_attention(x[0], x[1], x[2], o);
       }},
      {"attn_empty_rows", {"q", "k", "v", "kpm"}, padded(true)},
      {"attn_long", {"q", "k", "v"}, plain(true)},
      {"attn_d64", {"q", "k", "v"}, plain(true)},
      {"attn_chunked", {"q", "k", "v"}, plain(true)},  // multi-threaded backward with 2 threads
      // q, k, v are stored [B, T, H, D]; the op sees each transposed to [B, H, T, D].
      {"attn_T",
       {"q", "k", "v"},
       [](const V& x) {
         AttentionOptions o;
         o.causal = true;
         return scaled_dot_product_attention(transpose(x[0], 1, 2), transpose(x[1], 1, 2),
                                             transpose(x[2], 1, 2), o);
       }},
  };
}
}  // namespace

XOMNI_GOLDEN_TESTS(GoldenAttention, "attention");
