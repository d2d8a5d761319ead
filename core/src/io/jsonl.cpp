#include "xomni/core/io/jsonl.h"

#include <fstream>

#include "xomni/core/tensor/error.h"

namespace xomni {

void for_each_jsonl_line(const std::string& path, const std::string& what,
                         const std::function<void(const std::string&, int64_t)>& on_line) {
  std::ifstream in(path, std::ios::binary);
  XOMNI_CHECK(in, "cannot open the ", what, " file ", path);
  std::string line;
  for (int64_t line_no = 1; std::getline(in, line); ++line_no)
    if (line.find_first_not_of(" \t\r") != std::string::npos) on_line(line, line_no);
  XOMNI_CHECK(!in.bad(), "cannot read the ", what, " file ", path);
}

}  // namespace xomni
