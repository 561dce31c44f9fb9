// The one "must throw ae::Error saying all of these" check of the unit tests: the message must
// contain every part and be one line without control bytes (ae's errors are one line: the CLI prints
// them as they are).
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <initializer_list>
#include <string>

#include "kernels/common/error.h"

namespace ae::test {

// fn must throw ae::Error whose message contains every one of `parts`; returns the message.
inline std::string expect_error(const std::function<void()>& fn, std::initializer_list<std::string> parts) {
  try {
    fn();
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const std::string& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "message is not one line: " << msg;
    for (const char c : msg)  // no control byte either: file content is shown escaped (\x9f)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
        ADD_FAILURE() << "message holds control byte " << int(static_cast<unsigned char>(c)) << ": " << msg;
        break;
      }
    return msg;
  }
  ADD_FAILURE() << "expected ae::Error mentioning '" << *parts.begin() << "', nothing was thrown";
  return "";
}

}  // namespace ae::test
