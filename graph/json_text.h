// JSON read from a file, shown in a one-line message: nlohmann::json's parse errors re-phrased
// without the input they quote, and values printed short and ASCII. Used by every reader of JSON
// (the spec parser, the safetensors header, a model's metadata records).
#pragma once

#include <cstdint>
#include <exception>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

namespace ae {

// "invalid JSON at byte N: <reason>, near …"context"…" for an exception json::parse threw on
// `text` (N = base + the error's position in text, base: where text starts in its file). The
// reason is nlohmann's own (e.g. "syntax error while parsing value - invalid literal"), without
// its quoted input ("last read: '…'") and line/column; an error without a position (a number too
// large for a double) gives "invalid JSON: <reason>".
// e: the nlohmann::json::exception caught (any other exception gives its what(), made one line).
std::string json_parse_failure(const std::exception& e, std::string_view text, uint64_t base = 0);

// nlohmann::json stops reading at a NUL byte and accepts what came before, so "{}\0junk" would
// parse; JSON text holds no NUL (inside a string it must be written \u0000). "" when `text` has
// none, else the message: "invalid JSON at byte N: a NUL byte, near …"context"…".
std::string json_nul_failure(std::string_view text, uint64_t base = 0);

// A value read from a file, for "got …" messages: compact JSON, non-ASCII as \uXXXX, cut to about
// `max` characters ("…" marks the cut), so a huge or binary value stays a short printable line.
std::string json_shown(const nlohmann::json& v, size_t max = 40);

}  // namespace ae
