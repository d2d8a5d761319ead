#pragma once
// SHA-256 (FIPS 180-4) of bytes and of a file, as lower-case hex: the fingerprint results files
// give their inputs (e.g. `xomni eval`'s prompt files), so a number names exactly what it scored.
#include <string>
#include <string_view>

namespace xomni::jobs {

std::string sha256_hex(std::string_view bytes);
std::string sha256_file_hex(const std::string& path);  // throws an Error naming an unreadable file

}  // namespace xomni::jobs
