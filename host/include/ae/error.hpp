// ae::Error: what every failing ae call throws (C++ API) — a std::runtime_error whose message
// names the file, field or flag at fault. Exported, so code linking libae.so can catch it by type.
#pragma once

#include <stdexcept>
#include <string>

#include "ae/export.h"

namespace ae {

class AE_API Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace ae
