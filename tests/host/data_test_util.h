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

#include "tests/expect_error.h"
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

}  // namespace ae::test
