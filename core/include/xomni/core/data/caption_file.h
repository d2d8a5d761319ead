#pragma once
// The caption file `xomni data import` reads: JSONL, one image per non-empty line,
//   {"file": "cat.png", "caption": "a cat"}            or
//   {"file": "sub/dog.jpg", "captions": ["a dog", "a brown dog"]}
// "file" is relative to the image folder and may not leave it (no absolute path, no ".."). Other
// keys are refused, so a misspelt "captoin" is an error and not a silently uncaptioned image.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace xomni {

struct CaptionRecord {
  int64_t line = 0;  // 1-based line in the file
  std::string file;
  std::vector<std::string> captions;  // at least one
};

// One line; `where` ("captions.jsonl line 3") starts every error message.
CaptionRecord parse_caption_line(std::string_view line, const std::string& where);
// Every record of the file, in order; errors name the file and line.
std::vector<CaptionRecord> read_caption_file(const std::string& path);

}  // namespace xomni
