#pragma once
// Internal: OpenMP helpers. Work is split into contiguous ranges by a rule that depends only on
// the problem size and the thread count, so results are bitwise repeatable at a fixed count.
#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace xomni {

// Calls fn(begin, end) over [0, n) split into at most one range per thread; ranges smaller than
// `grain` are not split further.
template <typename Fn>
void parallel_for(int64_t n, int64_t grain, Fn&& fn) {
  if (n <= 0) return;
  const int64_t max_threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const int64_t nt =
      std::min<int64_t>(max_threads, std::max<int64_t>(1, n / std::max<int64_t>(grain, 1)));
  if (nt <= 1) {
    fn(int64_t(0), n);
    return;
  }
#pragma omp parallel num_threads(int(nt))
  {
    const int64_t t = omp_get_thread_num();
    const int64_t begin = n * t / nt, end = n * (t + 1) / nt;
    if (begin < end) fn(begin, end);
  }
}

}  // namespace xomni
