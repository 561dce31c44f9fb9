// libFuzzer target: the spec parser, JSON ('{' first) and compact forms, as `--spec` text. A spec
// it accepts must survive what ae does with it next: printed compact and saved as JSON (in a
// model's metadata), each must parse back to the same spec; a refusal there is a finding too.
// parse_spec reads a file when the text names a .json file; such inputs are skipped so the fuzzer
// never opens files of this machine.
#include <cstdio>
#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz/fuzz_input.h"
#include "graph/spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (text.find(".json") != std::string_view::npos && text.find('{') == std::string_view::npos) return 0;
  std::optional<ae::Spec> spec;
  ae::fuzz::expect_ok_or_error([&] { spec = ae::parse_spec(text); });
  if (!spec) return 0;
  const std::string compact = spec->to_compact(), json = spec->to_json().dump();
  try {
    if (ae::parse_spec(compact).to_compact() != compact) throw ae::Error("compact form changed: " + compact);
    if (ae::parse_spec_json(spec->to_json(), "json").to_json().dump() != json) throw ae::Error("JSON changed: " + json);
  } catch (const ae::Error& e) {
    std::fprintf(stderr, "accepted spec does not round-trip: %s\n", e.what());
    std::abort();
  }
  return 0;
}
