#pragma once
// One exception type for every user-facing failure; the message says what and where.
#include <sstream>
#include <stdexcept>
#include <string>

namespace xomni {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

#define XOMNI_CHECK(cond, ...)                                               \
  do {                                                                       \
    if (!(cond)) throw ::xomni::Error(::xomni::detail::concat(__VA_ARGS__)); \
  } while (0)

}  // namespace xomni
