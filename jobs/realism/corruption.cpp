#include "realism/corruption.h"

#include <algorithm>
#include <utility>

#include "xomni/core/tensor/error.h"
#include "xomni/core/tensor/random.h"

namespace xomni::realism {
namespace {

// Uniform draws from philox4x32(seed, counter), counters in order.
class Draws {
 public:
  explicit Draws(uint64_t seed) : seed_(seed) {}
  double uniform() {  // [0, 1)
    uint32_t r[4];
    philox4x32(seed_, counter_++, r);
    return double((uint64_t(r[0]) << 21) ^ (r[1] >> 11)) / 9007199254740992.0;
  }
  int64_t below(int64_t n) {  // [0, n)
    return std::min<int64_t>(n - 1, int64_t(uniform() * double(n)));
  }
  template <typename T>
  void shuffle(std::vector<T>& v) {  // Fisher-Yates
    for (int64_t i = int64_t(v.size()) - 1; i > 0; --i)
      std::swap(v[size_t(i)], v[size_t(below(i + 1))]);
  }

 private:
  uint64_t seed_;
  uint64_t counter_ = 0;
};

// A permutation of [0, n) that moves something when n > 1.
std::vector<int64_t> moving_permutation(int64_t n, Draws& d) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[size_t(i)] = i;
  d.shuffle(p);
  if (n > 1 && std::is_sorted(p.begin(), p.end())) std::rotate(p.begin(), p.begin() + 1, p.end());
  return p;
}

}  // namespace

CorruptedCodes corrupt_codes(const std::vector<int64_t>& ids, int64_t h, int64_t w,
                             int64_t codebook_size, uint64_t seed) {
  XOMNI_CHECK(h > 0 && w > 0 && int64_t(ids.size()) == h * w, "corrupt_codes: ", ids.size(),
              " codes for a ", h, "x", w, " grid");
  XOMNI_CHECK(codebook_size > 1, "corrupt_codes: a codebook of ", codebook_size, " codes");
  Draws d(seed ^ 0xc0de5badULL);
  CorruptedCodes out{ids, ""};
  const int64_t n = h * w;
  const int64_t kind = d.below(3);
  if (kind == 0) {
    const double f = 0.25 + 0.75 * d.uniform();
    const int64_t k = std::max<int64_t>(1, int64_t(f * double(n) + 0.5));
    std::vector<int64_t> pos(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) pos[size_t(i)] = i;
    d.shuffle(pos);
    for (int64_t i = 0; i < std::min(k, n); ++i)
      out.ids[size_t(pos[size_t(i)])] = d.below(codebook_size);
    out.description = "replace " + std::to_string(double(k) / double(n)).substr(0, 4);
  } else if (kind == 1) {
    const bool blocks = h % 2 == 0 && w % 2 == 0 && (h == 1 || d.uniform() < 0.5);
    if (!blocks && h > 1) {
      const std::vector<int64_t> p = moving_permutation(h, d);
      for (int64_t y = 0; y < h; ++y)
        std::copy_n(ids.begin() + p[size_t(y)] * w, w, out.ids.begin() + y * w);
      out.description = "shuffle rows";
    } else {
      const int64_t bh = blocks ? 2 : 1, bw = blocks ? 2 : 1;
      const int64_t gh = h / bh, gw = w / bw;
      const std::vector<int64_t> p = moving_permutation(gh * gw, d);
      for (int64_t b = 0; b < gh * gw; ++b) {
        const int64_t sy = p[size_t(b)] / gw * bh, sx = p[size_t(b)] % gw * bw;
        const int64_t ty = b / gw * bh, tx = b % gw * bw;
        for (int64_t y = 0; y < bh; ++y)
          for (int64_t x = 0; x < bw; ++x)
            out.ids[size_t((ty + y) * w + tx + x)] = ids[size_t((sy + y) * w + sx + x)];
      }
      out.description = blocks ? "shuffle 2x2 blocks" : "shuffle codes";
    }
  } else {
    const int64_t rh = (h + 1) / 2 + d.below(h - (h + 1) / 2 + 1);
    const int64_t rw = (w + 1) / 2 + d.below(w - (w + 1) / 2 + 1);
    const int64_t y0 = d.below(h - rh + 1), x0 = d.below(w - rw + 1);
    const int64_t code = ids[size_t(d.below(n))];
    for (int64_t y = y0; y < y0 + rh; ++y)
      for (int64_t x = x0; x < x0 + rw; ++x) out.ids[size_t(y * w + x)] = code;
    out.description = "repeat " + std::to_string(rh) + "x" + std::to_string(rw);
  }
  return out;
}

}  // namespace xomni::realism
