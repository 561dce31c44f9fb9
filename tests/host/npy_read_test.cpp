// NPY reader tests on files built byte by byte here from the format description (no Python): every
// dtype in both byte orders, format versions 1-3, shapes 1-D to 3-D, Fortran order, a bit-exact
// round trip through save_npy, and one file per refusal asserting the path and the problem.
#include <gtest/gtest.h>

#include <bit>
#include <cstring>
#include <limits>
#include <random>

#include "host/data/npy.h"
#include "tests/host/data_test_util.h"

namespace ae {
namespace {

using test::expect_error;

// An NPY file: magic, version, header length (u16 for v1, u32 for v2/v3), the dict padded with
// spaces and '\n' to a 64-byte boundary, then `payload`.
std::string npy_file(const std::string& dict, const std::string& payload, int major = 1) {
  const size_t prefix = major == 1 ? 10 : 12;
  std::string header = dict;
  header.append(63 - (prefix + header.size()) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  const size_t n = header.size();
  for (size_t i = 0; i < (major == 1 ? 2u : 4u); ++i) out += static_cast<char>((n >> (8 * i)) & 0xFF);
  return out + header + payload;
}

std::string dict(const std::string& descr, const std::string& shape, bool fortran = false) {
  return "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") + ", 'shape': " + shape + ", }";
}

// The bytes of `values` as T, little- or big-endian.
template <typename T>
std::string le_or_be(std::initializer_list<T> values, bool big = false) {
  std::string out;
  for (T v : values) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    if (big) std::reverse(b, b + sizeof(T));
    out.append(b, sizeof(T));
  }
  return out;
}

class NpyRead : public test::DataDir {};

TEST_F(NpyRead, EveryDtypeInBothByteOrders) {
  struct Case {
    std::string descr, payload;
    std::vector<float> want;
  };
  const std::vector<Case> cases = {
      {"|b1", std::string("\x00\x01\x01\x00", 4), {0, 1, 1, 0}},
      {"|u1", le_or_be<uint8_t>({0, 1, 128, 255}), {0, 1, 128, 255}},  // not scaled
      {"|i1", le_or_be<int8_t>({-128, -1, 0, 127}), {-128, -1, 0, 127}},
      {"<u2", le_or_be<uint16_t>({0, 1, 300, 65535}), {0, 1, 300, 65535}},
      {">u2", le_or_be<uint16_t>({0, 1, 300, 65535}, true), {0, 1, 300, 65535}},
      {"<i2", le_or_be<int16_t>({-32768, -2, 3, 32767}), {-32768, -2, 3, 32767}},
      {">i2", le_or_be<int16_t>({-32768, -2, 3, 32767}, true), {-32768, -2, 3, 32767}},
      {"<u4", le_or_be<uint32_t>({0, 7, 1u << 24, 4000000000u}), {0, 7, 16777216, 4e9f}},
      {"<i4", le_or_be<int32_t>({-5, 0, 1 << 24, -(1 << 30)}), {-5, 0, 16777216, -1073741824}},
      {">i4", le_or_be<int32_t>({-5, 0, 1 << 24, -(1 << 30)}, true), {-5, 0, 16777216, -1073741824}},
      {"<u8", le_or_be<uint64_t>({0, 9, uint64_t{1} << 40, 12}), {0, 9, 1099511627776.0f, 12}},
      {"<i8", le_or_be<int64_t>({-(int64_t{1} << 40), -1, 0, 3}), {-1099511627776.0f, -1, 0, 3}},
      {">i8", le_or_be<int64_t>({-(int64_t{1} << 40), -1, 0, 3}, true), {-1099511627776.0f, -1, 0, 3}},
      // float16: 1.0 = 0x3C00, -2.0 = 0xC000, 65504 (largest) = 0x7BFF, smallest subnormal = 0x0001.
      {"<f2", le_or_be<uint16_t>({0x3C00, 0xC000, 0x7BFF, 0x0001}), {1, -2, 65504, 5.9604645e-8f}},
      {">f2", le_or_be<uint16_t>({0x3C00, 0xC000, 0x7BFF, 0x0001}, true), {1, -2, 65504, 5.9604645e-8f}},
      {"<f4", le_or_be<float>({0.1f, -0.0f, 1e-45f, 3.4028235e38f}), {0.1f, -0.0f, 1e-45f, 3.4028235e38f}},
      {">f4", le_or_be<float>({0.1f, -0.0f, 1e-45f, 3.4028235e38f}, true), {0.1f, -0.0f, 1e-45f, 3.4028235e38f}},
      {"<f8", le_or_be<double>({0.1, -0.0, 1e-300, -2.5}), {0.1f, -0.0f, 0.0f, -2.5f}},
      {">f8", le_or_be<double>({0.1, -0.0, 1e-300, -2.5}, true), {0.1f, -0.0f, 0.0f, -2.5f}},
  };
  for (const Case& c : cases) {
    const std::string p = write("a.npy", npy_file(dict(c.descr, "(2, 2)"), c.payload));
    const Matrix m = read_npy(p);
    ASSERT_EQ(m.rows, 2) << c.descr;
    ASSERT_EQ(m.cols, 2) << c.descr;
    for (size_t i = 0; i < 4; ++i)
      EXPECT_EQ(std::bit_cast<uint32_t>(m.data[i]), std::bit_cast<uint32_t>(c.want[i]))
          << c.descr << " element " << i << ": " << m.data[i] << " vs " << c.want[i];
  }
}

TEST_F(NpyRead, ShapesVersionsAndHeaderSpellings) {
  const std::string six = le_or_be<float>({1, 2, 3, 4, 5, 6});
  Matrix m = read_npy(write("a.npy", npy_file(dict("<f4", "(6,)"), six)));  // 1-D -> [n, 1]
  EXPECT_EQ(m.rows, 6);
  EXPECT_EQ(m.cols, 1);
  EXPECT_EQ(m.data, (std::vector<float>{1, 2, 3, 4, 5, 6}));
  for (int major : {2, 3}) {
    m = read_npy(write("v.npy", npy_file(dict("<f4", "(3, 2)"), six, major)));
    EXPECT_EQ(m.rows, 3) << "v" << major;
    EXPECT_EQ(m.data, (std::vector<float>{1, 2, 3, 4, 5, 6})) << "v" << major;
  }
  // Keys in another order, double quotes, '=' byte order, Python 2 'L' suffixes, no trailing comma.
  m = read_npy(write("s.npy", npy_file("{\"shape\": (2L, 3L), \"fortran_order\": False, \"descr\": \"=f4\"}", six)));
  EXPECT_EQ(m.rows, 2);
  EXPECT_EQ(m.cols, 3);
  // Empty first dimension: a valid array with no rows.
  m = read_npy(write("z.npy", npy_file(dict("<f4", "(0, 5)"), "")));
  EXPECT_EQ(m.rows, 0);
  EXPECT_EQ(m.cols, 5);
}

TEST_F(NpyRead, ImageStackFlattenedInCOrder) {
  std::string payload;
  for (uint8_t v = 0; v < 24; ++v) payload += static_cast<char>(v * 10);
  const Matrix m = read_npy(write("s.npy", npy_file(dict("|u1", "(2, 3, 4)"), payload)));
  ASSERT_EQ(m.rows, 2);
  ASSERT_EQ(m.cols, 12);
  for (int i = 0; i < 24; ++i) EXPECT_EQ(m.data[static_cast<size_t>(i)], float(i * 10)) << i;
  const Matrix four = read_npy(write("t.npy", npy_file(dict("|u1", "(3, 2, 2, 2)"), payload)));
  EXPECT_EQ(four.rows, 3);
  EXPECT_EQ(four.cols, 8);
}

// (n, H, W) and (n, C, H, W) record their image shape; the rows are the same C-order bytes.
TEST_F(NpyRead, ImageStacksKeepTheirShape) {
  std::string payload;
  for (uint8_t v = 0; v < 24; ++v) payload += static_cast<char>(v);
  const Matrix hw = read_npy(write("hw.npy", npy_file(dict("|u1", "(2, 3, 4)"), payload)));
  EXPECT_EQ(hw.image_shape, (std::vector<int64_t>{1, 3, 4}));
  const Matrix chw = read_npy(write("chw.npy", npy_file(dict("|u1", "(3, 2, 2, 2)"), payload)));
  EXPECT_EQ(chw.image_shape, (std::vector<int64_t>{2, 2, 2}));
  EXPECT_EQ(chw.data, hw.data);  // one layout: only the recorded shape differs
  EXPECT_EQ(read_npy(write("one.npy", npy_file(dict("|u1", "(3, 2, 2, 2)"), payload)), 1).image_shape,
            (std::vector<int64_t>{2, 2, 2}));
  for (const char* shape : {"(24,)", "(6, 4)", "(2, 1, 3, 2, 2)"})
    EXPECT_TRUE(read_npy(write("f.npy", npy_file(dict("|u1", shape), payload))).image_shape.empty()) << shape;
  // No rows: the shape is still the file's.
  EXPECT_EQ(read_npy(write("z.npy", npy_file(dict("<f4", "(0, 1, 28, 28)"), ""))).image_shape,
            (std::vector<int64_t>{1, 28, 28}));
}

TEST_F(NpyRead, FortranOrderRefusedUnlessLayoutIsTheSame) {
  const std::string six = le_or_be<float>({1, 2, 3, 4, 5, 6});
  const std::string p = write("f.npy", npy_file(dict("<f4", "(2, 3)", true), six));
  expect_error([&] { read_npy(p); }, {p + ": Fortran-ordered arrays are not supported", "np.ascontiguousarray"});
  const Matrix col = read_npy(write("g.npy", npy_file(dict("<f4", "(6, 1)", true), six)));
  EXPECT_EQ(col.data, (std::vector<float>{1, 2, 3, 4, 5, 6}));
}

TEST_F(NpyRead, MaxRowsReadsAPrefix) {
  const std::string p = write("m.npy", npy_file(dict("<i2", "(3, 2)"), le_or_be<int16_t>({1, 2, 3, 4, 5, 6})));
  const Matrix m = read_npy(p, 2);
  EXPECT_EQ(m.rows, 2);
  EXPECT_EQ(m.data, (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(read_npy(p, 10).rows, 3);
}

TEST_F(NpyRead, SaveNpyRoundTripsBitExact) {
  std::mt19937 rng(11);
  std::vector<float> x(37 * 13);
  for (float& v : x) {
    uint32_t bits = rng();
    while (!std::isfinite(std::bit_cast<float>(bits))) bits = rng();
    v = std::bit_cast<float>(bits);
  }
  save_npy(file("rt.npy"), x.data(), 37, 13);
  const Matrix m = read_npy(file("rt.npy"));
  ASSERT_EQ(m.rows, 37);
  ASSERT_EQ(m.cols, 13);
  EXPECT_EQ(std::memcmp(m.data.data(), x.data(), x.size() * 4), 0);
}

TEST_F(NpyRead, MalformedFilesRefused) {
  const std::string four = le_or_be<float>({1, 2, 3, 4});
  struct Case {
    std::string bytes, what;
  };
  const std::vector<Case> cases = {
      {"\x93NUMPX\x01\x00", "not an NPY file"},
      {"PK\x03\x04 not numpy", "not an NPY file"},
      {npy_file(dict("<f4", "(2, 2)"), four).replace(6, 1, "\x04"), "format version 4.0 is not supported"},
      {std::string("\x93NUMPY\x01\x00\x50\x00{'descr'", 18), "truncated NPY header"},
      {npy_file("{'descr': '<f4', 'shape': (2, 2), }", four), "lacks the 'fortran_order' key"},
      {npy_file("{'descr': '<f4', 'fortran_order': Nope, 'shape': (2, 2), }", four), "expected True or False"},
      {npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -2), }", four), "cannot parse the NPY header"},
      {npy_file(dict("<c8", "(2,)"), std::string(16, '\0')), "unsupported NPY dtype \"<c8\" (complex64)"},
      {npy_file(dict("<U3", "(2,)"), std::string(24, '\0')), "\"<U3\" (str (unicode)); supported: bool, uint8"},
      {npy_file(dict("<f16", "(2,)"), std::string(32, '\0')), "unsupported NPY dtype \"<f16\""},
      {npy_file(dict("|O", "(2,)"), std::string(16, '\0')), "object arrays"},
      {npy_file("{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, 'shape': (2,), }",
                std::string(16, '\0')),
       "structured arrays"},
      {npy_file(dict("<f4", "()"), four.substr(0, 4)), "0-d array"},
      {npy_file(dict("<f4", "(2, 2)"), four.substr(0, 15)),
       "truncated NPY data: shape (2, 2) of float32 needs 16 bytes of data, the file has 15"},
      {npy_file(dict("<f4", "(2, 2)"), four + "xx"), "2 trailing bytes after the NPY data"},
      {npy_file(dict("<f4", "(4294967296, 4294967296)"), four), "overflows"},
      {npy_file(dict("<f4", "(2, 2)"), le_or_be<float>({1, 2, 3, std::numeric_limits<float>::quiet_NaN()})),
       "row 1, column 1 (0-based) is NaN"},
      {npy_file(dict(">f8", "(2, 2)"), le_or_be<double>({1, -std::numeric_limits<double>::infinity(), 3, 4}, true)),
       "row 0, column 1 (0-based) is infinite"},
      {npy_file(dict("<f8", "(4,)"), le_or_be<double>({1, 2, 1e300, 4})),
       "row 2, column 0 (0-based) does not fit float32"},
      {npy_file(dict("<f2", "(2,)"), le_or_be<uint16_t>({0x3C00, 0x7E00})), "row 1, column 0 (0-based) is NaN"},
  };
  for (const Case& c : cases) {
    const std::string p = write("bad.npy", c.bytes);
    expect_error([&] { read_npy(p); }, {p + ": ", c.what});
  }
  expect_error([&] { read_npy(write("e.npy", "")); }, {"e.npy: empty file"});
  expect_error([&] { read_npy(file("none.npy")); }, {"none.npy: no such file"});
}

}  // namespace
}  // namespace ae
