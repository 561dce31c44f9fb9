// ae's one error type and the checks that throw it. Lowest layer: everything may include this.
// Checks stay on in Release builds; the library never aborts, it throws ae::Error, which the
// C ABI turns into a status code and the CLI into a one-line message and a non-zero exit.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

#include "ae/error.hpp"  // the class itself is public API

namespace ae {

namespace detail {
template <typename... ARGS>
std::string concat(const ARGS&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
[[noreturn]] inline void fail(const char* file, int line, const char* expr, const std::string& msg) {
  std::ostringstream os;
  os << msg;
  if (expr) os << " [" << expr << " failed at " << file << ":" << line << "]";
  throw Error(os.str());
}
}  // namespace detail

}  // namespace ae

// AE_CHECK(cond, parts...): throws ae::Error whose message is the parts concatenated, followed by
// the failed expression and its source location (for bug reports; user-facing text comes first).
#define AE_CHECK(cond, ...)                                                            \
  do {                                                                                 \
    if (!(cond)) ::ae::detail::fail(__FILE__, __LINE__, #cond, ::ae::detail::concat(__VA_ARGS__)); \
  } while (0)

// AE_FAIL(parts...): a user-input error; the message alone (no source location) reaches the user.
#define AE_FAIL(...) throw ::ae::Error(::ae::detail::concat(__VA_ARGS__))
