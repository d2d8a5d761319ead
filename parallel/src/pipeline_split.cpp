// split_layers: which layers each pipeline stage owns.
#include "xomni/parallel/pipeline.h"

namespace xomni::parallel {

std::vector<std::pair<int64_t, int64_t>> split_layers(int64_t n_layers, int stages,
                                                      const std::vector<int64_t>& sizes,
                                                      const std::string& where) {
  XOMNI_CHECK(stages >= 1, where, ": the pipeline needs at least 1 stage, got ", stages);
  XOMNI_CHECK(n_layers >= stages, where, ": ", n_layers, " layers cannot fill ", stages,
              " pipeline stages (each stage needs at least one layer)");
  std::vector<int64_t> n(size_t(stages), 0);
  if (sizes.empty()) {
    const int64_t base = n_layers / stages, extra = n_layers % stages;
    for (int s = 0; s < stages; ++s) n[size_t(s)] = base + (s >= 1 && s <= extra ? 1 : 0);
  } else {
    XOMNI_CHECK(int64_t(sizes.size()) == stages, where, ": the layer split has ", sizes.size(),
                " entries but there are ", stages, " pipeline stages");
    int64_t total = 0;
    for (int s = 0; s < stages; ++s) {
      XOMNI_CHECK(sizes[size_t(s)] >= 1, where, ": stage ", s, " of the layer split has ",
                  sizes[size_t(s)], " layers; each stage needs at least one");
      total += sizes[size_t(s)];
    }
    XOMNI_CHECK(total == n_layers, where, ": the layer split sums to ", total,
                " layers but the model has ", n_layers);
    n = sizes;
  }
  std::vector<std::pair<int64_t, int64_t>> ranges;
  int64_t begin = 0;
  for (int64_t k : n) {
    ranges.emplace_back(begin, begin + k);
    begin += k;
  }
  return ranges;
}

}  // namespace xomni::parallel
