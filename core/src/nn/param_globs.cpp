// Parameter selection by shell-style globs on names: the matcher and freezing by name, shared by
// AdamW and parallel::DistributedOptimizer.
#include "xomni/core/nn/optim.h"

namespace xomni {

bool glob_match(std::string_view pattern, std::string_view name) {
  // Iterative matcher with backtracking to the last '*'.
  size_t p = 0, n = 0, star = std::string_view::npos, mark = 0;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
      ++p, ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++, mark = n;
    } else if (star != std::string_view::npos) {
      p = star + 1, n = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

size_t set_frozen_by_glob(std::vector<NamedParam>& params, const std::vector<std::string>& patterns,
                          bool frozen, const char* who) {
  std::vector<bool> hit(params.size(), false);
  for (const std::string& pat : patterns) {
    bool any = false;
    for (size_t i = 0; i < params.size(); ++i)
      if (glob_match(pat, params[i].name)) hit[i] = any = true;
    XOMNI_CHECK(any, who, ": pattern '", pat, "' matches no parameter name");
  }
  size_t count = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    if (!hit[i]) continue;
    params[i].tensor.set_requires_grad(!frozen);
    if (frozen) params[i].tensor.zero_grad();
    ++count;
  }
  return count;
}

}  // namespace xomni
