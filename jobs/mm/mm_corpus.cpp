#include "mm/mm_corpus.h"

#include <fstream>

#include "xomni/core/data/image_data.h"
#include "xomni/core/tensor/error.h"

namespace xomni::mm {

std::vector<std::string> image_dataset_texts(const std::vector<std::string>& image_dirs) {
  std::vector<std::string> out;
  for (const std::string& dir : image_dirs) {
    const ImageDataset ds = ImageDataset::open(dir);
    for (int64_t i = 0; i < ds.size(); ++i) {
      const ImageSample s = ds.get(i);
      for (const std::string& c : s.captions) out.push_back(c);
      for (const auto& [q, a] : s.qa) out.push_back(q), out.push_back(a);
    }
  }
  return out;
}

std::vector<std::string> file_paragraphs(const std::vector<std::string>& files) {
  std::vector<std::string> out;
  for (const std::string& f : files) {
    std::ifstream in(f, std::ios::binary);
    XOMNI_CHECK(in, f, ": cannot open the text file");
    std::string line, current;
    const auto flush = [&] {
      if (!current.empty()) out.push_back(current);
      current.clear();
    };
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.find_first_not_of(" \t") == std::string::npos) {
        flush();
        continue;
      }
      current += (current.empty() ? "" : "\n") + line;
    }
    XOMNI_CHECK(!in.bad(), f, ": cannot read the text file");
    flush();
  }
  return out;
}

}  // namespace xomni::mm
