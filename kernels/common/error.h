// ae's one error type and the checks that throw it. Lowest layer: everything may include this.
// Checks stay on in Release builds; the library never aborts, it throws ae::Error, which the
// C ABI turns into a status code and the CLI into a one-line message and a non-zero exit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

#include "ae/error.hpp"  // the class itself is public API

namespace ae {

// ae's messages are one line of UTF-8: printable ASCII plus a few symbols of ae's own wording
// (≥ ≤ × ± λ … — · → −). Bytes that come from a file are never copied into a message as they are:
// they go through quote_bytes() or quote_at(), which show them as printable ASCII, short, in quotes.

// `bytes` (a cell, a name, a dtype string read from a file) in quotes, as printable ASCII: the
// quote character and '\' escaped, \n \t \r as such, every other byte that is not printable ASCII
// (controls, DEL, all of 0x80-0xFF) as \xNN; more than `max` bytes are cut, marked by "…" after
// the closing quote. `quote` is '"' for cells and text, '\'' where ae quotes names ('enc.0.weight').
inline std::string quote_bytes(std::string_view bytes, size_t max = 40, char quote = '"') {
  static const char* hex = "0123456789abcdef";
  std::string out(1, quote);
  for (size_t i = 0; i < bytes.size() && i < max; ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c == static_cast<unsigned char>(quote) || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c >= 0x20 && c < 0x7F) {
      out += char(c);
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  out += quote;
  if (bytes.size() > max) out += "…";
  return out;
}

// The bytes of `text` around position `at` (the byte a parser stopped at) as `…"context"…`: at
// most `max` bytes, half of them before `at` (a parser often stops just after the bad token), "…"
// marking a cut on either side. Binary junk escapes to 4 characters a byte: hence the small window.
inline std::string quote_window(std::string_view text, size_t at, size_t max = 32) {
  if (at > text.size()) at = text.size();
  const size_t before = max / 2;
  const size_t from = at > before ? at - before : 0;
  const std::string_view shown = text.substr(from, max);
  std::string out = from > 0 ? "…" : "";
  out += quote_bytes(shown, max);
  if (from + shown.size() < text.size()) out += "…";
  return out;
}

// quote_window() with the position first, for "cannot parse" messages: `byte N: …"context"…`,
// N = base + at (base: where `text` starts in its file, so that N is a file offset).
inline std::string quote_at(std::string_view text, size_t at, uint64_t base = 0, size_t max = 32) {
  return "byte " + std::to_string(base + (at < text.size() ? at : text.size())) + ": " + quote_window(text, at, max);
}

namespace detail {
// The last guard of the one-line rule, applied to every message AE_CHECK / AE_FAIL throw: a path or
// a lower-level library's text may still carry bytes no file content should (quote_bytes() already
// escapes those). Control bytes (C0, DEL), C1 controls, line and paragraph separators, bidi
// overrides and bytes that are not valid UTF-8 become \xNN; valid printable UTF-8 stays as it is.
inline std::string one_line(std::string_view msg) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(msg.size());
  auto escape = [&](std::string_view bytes) {
    for (char ch : bytes) {
      const auto c = static_cast<unsigned char>(ch);
      if (c == '\n') {
        out += "\\n";
      } else if (c == '\r') {
        out += "\\r";
      } else if (c == '\t') {
        out += "\\t";
      } else {
        out += "\\x";
        out += hex[c >> 4];
        out += hex[c & 15];
      }
    }
  };
  for (size_t i = 0; i < msg.size();) {
    const auto c = static_cast<unsigned char>(msg[i]);
    if (c >= 0x20 && c < 0x7F) {
      out += char(c);
      ++i;
      continue;
    }
    // A UTF-8 sequence: its length from the lead byte, continuation bytes 10xxxxxx, shortest form.
    const size_t len = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    uint32_t cp = len == 2 ? c & 0x1Fu : len == 3 ? c & 0x0Fu : c & 0x07u;
    bool ok = len > 0 && i + len <= msg.size();
    for (size_t k = 1; ok && k < len; ++k) {
      const auto cc = static_cast<unsigned char>(msg[i + k]);
      ok = (cc & 0xC0) == 0x80;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    ok = ok && !(len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) &&
         !(len == 4 && (cp < 0x10000 || cp > 0x10FFFF));
    const bool invisible = cp <= 0x9F || cp == 0x2028 || cp == 0x2029 || (cp >= 0x200E && cp <= 0x200F) ||
                           (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0xFEFF;
    if (!ok || invisible) {
      escape(msg.substr(i, ok ? len : 1));
      i += ok ? len : 1;
    } else {
      out.append(msg.substr(i, len));
      i += len;
    }
  }
  return out;
}

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
  throw Error(one_line(os.str()));
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
#define AE_FAIL(...) throw ::ae::Error(::ae::detail::one_line(::ae::detail::concat(__VA_ARGS__)))
