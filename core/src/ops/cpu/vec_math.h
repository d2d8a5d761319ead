#pragma once
// Internal: an exp for float that the compiler vectorises inside `omp simd` loops (std::exp is a
// scalar libm call). Max relative error ~2e-7 (about 2 ulp) over the whole float range;
// underflows to 0 below -87.3 and saturates to inf above 88.7 like expf.
#include <cmath>
#include <cstdint>
#include <cstring>

namespace xomni {

#pragma omp declare simd notinbranch
inline float exp_approx(float x) {
  const float kLog2e = 1.44269504088896341f;
  const float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
  const bool over = x > 88.72283f;  // ln(FLT_MAX)
  x = over ? 88.72283f : x;
  const bool under = x < -87.3f;
  x = x < -87.3f ? -87.3f : x;
  // Round to nearest with the 1.5 * 2^23 trick: nearbyint would be a libm call per lane.
  const float kRound = 12582912.0f;
  const float n = (x * kLog2e + kRound) - kRound;
  const float r = (x - n * kLn2Hi) - n * kLn2Lo;  // |r| <= ln2/2
  // Degree-6 minimax-style polynomial (Taylor coefficients are accurate enough here).
  float p = 1.3888889e-3f;
  p = p * r + 8.3333333e-3f;
  p = p * r + 4.1666667e-2f;
  p = p * r + 1.6666667e-1f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  // 2^n with n in [-126, 128]: build 2^min(n, 127) and double once more for n = 128.
  const int32_t ni = int32_t(n);
  const int32_t e = ((ni > 127 ? 127 : ni) + 127) << 23;
  float scale;
  std::memcpy(&scale, &e, 4);
  const float y = p * scale * (ni > 127 ? 2.0f : 1.0f);
  return under ? 0.0f : (over ? INFINITY : y);
}

// tanh through exp: 1 - 2 / (exp(2|x|) + 1), sign restored. Absolute error ~2e-7.
#pragma omp declare simd notinbranch
inline float tanh_approx(float x) {
  const float ax = x < 0 ? -x : x;
  const float t = 1.0f - 2.0f / (exp_approx(2.0f * ax) + 1.0f);
  return x < 0 ? -t : t;
}

// erf by Abramowitz & Stegun 7.1.26 (1.5e-7 in exact arithmetic; about 4e-7 measured in float).
#pragma omp declare simd notinbranch
inline float erf_approx(float x) {
  const float ax = x < 0 ? -x : x;
  const float t = 1.0f / (1.0f + 0.3275911f * ax);
  float p = 1.061405429f;
  p = p * t - 1.453152027f;
  p = p * t + 1.421413741f;
  p = p * t - 0.284496736f;
  p = p * t + 0.254829592f;
  const float y = 1.0f - p * t * exp_approx(-ax * ax);
  return x < 0 ? -y : y;
}

template <typename T>
inline T fast_tanh(T x) {
  if constexpr (sizeof(T) == 4)
    return tanh_approx(x);
  else
    return std::tanh(x);
}

template <typename T>
inline T fast_erf(T x) {
  if constexpr (sizeof(T) == 4)
    return erf_approx(x);
  else
    return std::erf(x);
}

template <typename T>
inline T fast_exp(T x) {
  if constexpr (sizeof(T) == 4)
    return exp_approx(x);
  else
    return std::exp(x);
}

}  // namespace xomni
