#include "codec/byte_text.h"

#include <algorithm>

namespace xomni::codec {

ByteExample byte_example(const std::string& prompt, const std::string& answer, int64_t max_tokens) {
  // Keep the whole answer when it fits with the begin id and the end target; cut the prompt's
  // front first (its end, next to the answer, matters most), then the answer's end.
  const int64_t budget = std::max<int64_t>(max_tokens - 1, 1);  // after the begin id
  const int64_t answer_len = std::min<int64_t>(int64_t(answer.size()), budget);
  const int64_t prompt_len = std::min<int64_t>(int64_t(prompt.size()), budget - answer_len);
  ByteExample e;
  e.ids.push_back(kByteBegin);
  for (int64_t i = int64_t(prompt.size()) - prompt_len; i < int64_t(prompt.size()); ++i)
    e.ids.push_back(static_cast<unsigned char>(prompt[size_t(i)]));
  const int64_t answer_start = int64_t(e.ids.size());
  for (int64_t i = 0; i < answer_len; ++i)
    e.ids.push_back(static_cast<unsigned char>(answer[size_t(i)]));
  // Position p predicts id p + 1; the answer's ids and the end id after them are supervised.
  e.targets.assign(e.ids.size(), -100);
  for (int64_t p = answer_start - 1; p + 1 < int64_t(e.ids.size()); ++p)
    e.targets[size_t(p)] = e.ids[size_t(p + 1)];
  e.targets.back() = kByteEnd;
  return e;
}

}  // namespace xomni::codec
