// JSON errors and values as one printable line (see json_text.h).
#include "graph/json_text.h"

#include <nlohmann/json.hpp>

#include "kernels/common/error.h"

namespace ae {

namespace {

constexpr size_t k_max_reason = 200;  // nlohmann's longest reasons are about 130 bytes

// nlohmann's what() without what repeats the input or our own position: "[json.exception.x.N] ",
// "parse error at line L, column C: " and "; last read: '<input>'". What is left is nlohmann's
// fixed wording, made one line and cut in case a future version words it otherwise.
std::string short_reason(std::string_view w) {
  if (w.starts_with("[json.exception.")) {
    const size_t close = w.find("] ");
    if (close != std::string_view::npos) w.remove_prefix(close + 2);
  }
  if (w.starts_with("parse error")) {
    const size_t colon = w.find(": ");
    if (colon != std::string_view::npos) w.remove_prefix(colon + 2);
  }
  std::string s(w);
  const size_t last_read = s.find("; last read: '");
  if (last_read != std::string::npos) {
    const size_t expected = s.rfind("; expected ");
    s = s.substr(0, last_read) + (expected != std::string::npos && expected > last_read ? s.substr(expected) : "");
  } else if (s.starts_with("number overflow parsing")) {
    s = "a number too large for a double";
  }
  if (s.size() > k_max_reason) s = s.substr(0, k_max_reason) + "…";
  return detail::one_line(s);
}

}  // namespace

std::string json_parse_failure(const std::exception& e, std::string_view text, uint64_t base) {
  const auto* parse = dynamic_cast<const nlohmann::json::parse_error*>(&e);
  const std::string reason = short_reason(e.what());
  if (!parse || parse->byte == 0) return "invalid JSON: " + reason;
  // nlohmann's byte is 1-based (n + 1: the end of the input); ours is the 0-based offset.
  const size_t at = std::min<size_t>(parse->byte - 1, text.size());
  return "invalid JSON at byte " + std::to_string(base + at) + ": " + reason + ", near " + quote_window(text, at);
}

std::string json_nul_failure(std::string_view text, uint64_t base) {
  const size_t at = text.find('\0');
  if (at == std::string_view::npos) return "";
  return "invalid JSON at byte " + std::to_string(base + at) + ": a NUL byte (JSON text holds none), near " +
         quote_window(text, at);
}

std::string json_shown(const nlohmann::json& v, size_t max) {
  std::string s = v.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
  if (s.size() <= max) return s;
  return s.substr(0, max) + "…";
}

}  // namespace ae
