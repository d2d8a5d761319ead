#pragma once
// Reading prompt files: JSONL as `xomni data prompts` writes them (prompt_json_line), one prompt
// a line: {"set"?, "task", "category", "prompt", "metadata": {...}}. Any file of this shape is a
// prompt set, so a new evaluation or training set needs no code.
#include <string>
#include <string_view>
#include <vector>

#include "xomni/world/prompt_sets.h"

namespace xomni::world {

// One line; `where` ("prompts.jsonl line 3") starts every error message. "task" is "scene",
// "text" or "vqa"; a VQA prompt's metadata holds a string "answer" and an object "image".
// "set" defaults to "".
Prompt parse_prompt_line(std::string_view line, const std::string& where);
// Every prompt of the file, in order (blank lines skipped); errors name the file and line.
std::vector<Prompt> read_prompt_file(const std::string& path);

}  // namespace xomni::world
