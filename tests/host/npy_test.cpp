// NPY writer tests: the exact bytes of a small file built here from the format description, the
// 64-byte alignment numpy expects for any shape, and refusals.
#include <gtest/gtest.h>

#include "tests/temp_dir.h"
#include <stdlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "host/data/npy.h"
#include "kernels/common/error.h"

namespace ae {
namespace {

namespace fs = std::filesystem;

using test::read_all;

class NpyTest : public ::testing::Test {
 protected:
  std::string file(const std::string& name) const { return m_tmp.file(name); }
  test::TempDir m_tmp{"ae_npy_test"};
};

TEST_F(NpyTest, MatchesHandBuiltBytes) {
  const std::vector<float> data = {1.0f, -2.0f, 0.5f, 0.0f, 3.0f, -0.0f};  // [2, 3]
  save_npy(file("a.npy"), data.data(), 2, 3);
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  ASSERT_EQ(header.size(), 59u);
  header.append(128 - 10 - header.size() - 1, ' ');  // 10 + 59 > 64: next boundary is 128
  header += '\n';
  std::string expected = std::string("\x93NUMPY\x01\x00", 8) + static_cast<char>(header.size()) + '\0' + header;
  for (uint32_t bits : {0x3F800000u, 0xC0000000u, 0x3F000000u, 0x00000000u, 0x40400000u, 0x80000000u})
    for (int i = 0; i < 4; ++i) expected += static_cast<char>((bits >> (8 * i)) & 0xFF);
  EXPECT_EQ(read_all(file("a.npy")), expected);
}

TEST_F(NpyTest, DataIsAlignedForAnyShape) {
  for (const auto& [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{0, 0}, {1, 1}, {1000, 7}, {123456789, 0}}) {
    const std::vector<float> data(static_cast<size_t>(rows * cols), 0.25f);
    const Matrix m{rows, cols, data};
    save_npy(file("b.npy"), m);
    const std::string got = read_all(file("b.npy"));
    ASSERT_GE(got.size(), 10u);
    const size_t header_len = static_cast<uint8_t>(got[8]) | (static_cast<uint8_t>(got[9]) << 8);
    EXPECT_EQ((10 + header_len) % 64, 0u) << rows << "x" << cols;
    EXPECT_EQ(got[10 + header_len - 1], '\n');
    EXPECT_NE(got.find("'shape': (" + std::to_string(rows) + ", " + std::to_string(cols) + "), }"),
              std::string::npos);
    EXPECT_EQ(got.size(), 10 + header_len + data.size() * 4);
    if (!data.empty()) {
      float last = 0;
      std::memcpy(&last, got.data() + got.size() - 4, 4);
      EXPECT_EQ(last, 0.25f);
    }
  }
}

TEST_F(NpyTest, RefusesBadShapesAndLeavesNoFile) {
  EXPECT_THROW(save_npy(file("c.npy"), nullptr, -1, 3), Error);
  EXPECT_THROW(save_npy(file("c.npy"), nullptr, 2, 3), Error);
  EXPECT_TRUE(fs::is_empty(m_tmp.path()));
  try {
    save_npy(file("missing/c.npy"), nullptr, 0, 0);
    ADD_FAILURE() << "no error for a missing directory";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing/c.npy"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ae
