#include "xomni/core/tensor/shape.h"

#include <cstdio>
#include <limits>

#include "xomni/core/tensor/error.h"

namespace xomni {

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s)
    if (__builtin_mul_overflow(n, d, &n))
      throw Error("shape " + shape_str(s) + ": element count overflows 64 bits");
  return n;
}

int64_t checked_mul(int64_t a, int64_t b, const std::string& what) {
  int64_t r = 0;
  XOMNI_CHECK(!__builtin_mul_overflow(a, b, &r), what, ": ", a, " x ", b, " overflows 64 bits");
  return r;
}

int64_t checked_add(int64_t a, int64_t b, const std::string& what) {
  int64_t r = 0;
  XOMNI_CHECK(!__builtin_add_overflow(a, b, &r), what, ": ", a, " + ", b, " overflows 64 bits");
  return r;
}

int64_t checked_numel(const Shape& s, const std::string& what) {
  int64_t n = 1;
  for (int64_t d : s) {
    XOMNI_CHECK(d >= 0, what, ": negative dimension in shape ", shape_str(s));
    XOMNI_CHECK(!__builtin_mul_overflow(n, d, &n), what, ": shape ", shape_str(s),
                " has more elements than fit in 64 bits");
  }
  return n;
}

int64_t checked_nbytes(const Shape& s, size_t elem_size, const std::string& what) {
  int64_t n = 0;
  XOMNI_CHECK(!__builtin_mul_overflow(checked_numel(s, what), int64_t(elem_size), &n), what,
              ": shape ", shape_str(s), " of ", elem_size, "-byte elements needs more bytes than ",
              "fit in 64 bits");
  return n;
}

std::string human_bytes(double nbytes) {
  if (nbytes < 1024) return std::to_string(int64_t(nbytes)) + " bytes";
  const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int u = -1;
  while (nbytes >= 1024 && u < 5) nbytes /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", nbytes, units[u]);
  return buf;
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (int64_t i = int64_t(s.size()) - 1; i >= 0; --i) {
    st[i] = acc;
    // Saturates instead of overflowing: the strides of an empty tensor are never used, and any
    // other shape whose product overflows is refused by shape_numel before it gets here.
    if (__builtin_mul_overflow(acc, std::max<int64_t>(s[i], 1), &acc))
      acc = std::numeric_limits<int64_t>::max();
  }
  return st;
}

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op) {
  const int64_t lo = ndim == 0 ? -1 : -ndim, hi = ndim == 0 ? 0 : ndim - 1;
  XOMNI_CHECK(dim >= lo && dim <= hi, op, ": dimension ", dim, " out of range for a ", ndim,
              "-d tensor");
  return dim < 0 ? dim + std::max<int64_t>(ndim, 1) : dim;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    XOMNI_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ",
                shape_str(b), " do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

}  // namespace xomni
