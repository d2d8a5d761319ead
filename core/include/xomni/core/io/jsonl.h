#pragma once
// Reading JSONL files (one JSON value a line), the format of caption, prompt and timeline files.
#include <cstdint>
#include <functional>
#include <string>

namespace xomni {

// Calls on_line(line, line_number) (1-based) for every line of `path` that holds more than
// spaces, tabs or '\r'. `what` names the file in errors: "cannot open the <what> file <path>",
// "cannot read the <what> file <path>".
void for_each_jsonl_line(const std::string& path, const std::string& what,
                         const std::function<void(const std::string&, int64_t)>& on_line);

}  // namespace xomni
