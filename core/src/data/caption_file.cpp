// Caption JSONL for `xomni data import` (format in caption_file.h).
#include "xomni/core/data/caption_file.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "xomni/core/io/jsonl.h"
#include "xomni/core/tensor/error.h"

namespace xomni {
namespace {

// The image must stay inside the folder given with --images.
void check_relative_inside(const std::string& file, const std::string& where) {
  XOMNI_CHECK(!file.empty(), where, ": \"file\" is empty");
  XOMNI_CHECK(file.find('\0') == std::string::npos, where, ": \"file\" holds a NUL byte");
  const std::filesystem::path p(file);
  XOMNI_CHECK(p.is_relative(), where, ": \"file\" '", file,
              "' is absolute; give it relative to the image folder");
  for (const auto& part : p)
    XOMNI_CHECK(part != "..", where, ": \"file\" '", file, "' leaves the image folder ('..')");
}

}  // namespace

CaptionRecord parse_caption_line(std::string_view line, const std::string& where) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    throw Error(where + ": not valid JSON: " + e.what());
  }
  XOMNI_CHECK(j.is_object(), where, ": not a JSON object");
  for (const auto& [key, value] : j.items())
    XOMNI_CHECK(key == "file" || key == "caption" || key == "captions", where, ": unknown key \"",
                key, "\" (expected \"file\" and \"caption\" or \"captions\")");
  XOMNI_CHECK(j.contains("file") && j["file"].is_string(), where, ": needs a string \"file\"");
  CaptionRecord r;
  r.file = j["file"].get<std::string>();
  check_relative_inside(r.file, where);
  const bool one = j.contains("caption"), many = j.contains("captions");
  XOMNI_CHECK(one != many, where, ": needs exactly one of \"caption\" (a string) or ",
              "\"captions\" (an array of strings)");
  if (one) {
    XOMNI_CHECK(j["caption"].is_string(), where, ": \"caption\" is not a string");
    r.captions.push_back(j["caption"].get<std::string>());
  } else {
    XOMNI_CHECK(j["captions"].is_array() && !j["captions"].empty(), where,
                ": \"captions\" is not a non-empty array");
    for (const auto& c : j["captions"]) {
      XOMNI_CHECK(c.is_string(), where, ": \"captions\" holds a non-string");
      r.captions.push_back(c.get<std::string>());
    }
  }
  return r;
}

std::vector<CaptionRecord> read_caption_file(const std::string& path) {
  std::vector<CaptionRecord> records;
  for_each_jsonl_line(path, "caption", [&](const std::string& line, int64_t line_no) {
    records.push_back(parse_caption_line(line, path + " line " + std::to_string(line_no)));
    records.back().line = line_no;
  });
  return records;
}

}  // namespace xomni
