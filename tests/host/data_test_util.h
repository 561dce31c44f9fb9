// Helpers shared by the data-layer tests (CSV, NPY, dataset dispatch): a temporary directory per
// test, writing exact bytes, and "must throw ae::Error mentioning all of these" checks.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <string>

#include "kernels/common/error.h"

#include "tests/temp_dir.h"

namespace ae::test {

namespace fs = std::filesystem;

// A fresh directory per test, removed afterwards.
class DataDir : public ::testing::Test {
 protected:
  std::string file(const std::string& name) const { return m_tmp.file(name); }
  // Writes `bytes` verbatim to a file in the directory and returns its path.
  std::string write(const std::string& name, const std::string& bytes) const { return m_tmp.write(name, bytes); }
  TempDir m_tmp{"ae_data_test"};
  const fs::path& m_dir = m_tmp.path();
};


// fn must throw ae::Error whose message contains every one of `parts`; returns the message.
inline std::string expect_error(const std::function<void()>& fn, std::initializer_list<std::string> parts) {
  try {
    fn();
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const std::string& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "message is not one line: " << msg;
    return msg;
  }
  ADD_FAILURE() << "expected ae::Error mentioning '" << *parts.begin() << "', nothing was thrown";
  return "";
}

}  // namespace ae::test
