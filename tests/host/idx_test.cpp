// IDX reader tests: the real Fashion-MNIST files (checked against an independent decompression),
// every element type, max_rows, and one generated bad file per failure mode, each asserting the
// message names the file and the problem.
#include <gtest/gtest.h>

#include "tests/expect_error.h"
#include "tests/temp_dir.h"
#include <stdlib.h>
#include <zlib.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>

#include "host/data/idx.h"
#include "kernels/common/error.h"

namespace ae {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

const std::string k_fashion = "/usr/share/datasets/fashion-mnist/";

using TempDir = test::TempDir;
using test::expect_error;

void write_bytes(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

void write_gz(const std::string& path, const Bytes& bytes) {
  gzFile gz = gzopen(path.c_str(), "wb");
  ASSERT_NE(gz, nullptr);
  ASSERT_EQ(gzwrite(gz, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(gz), Z_OK);
}

Bytes read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

// Decompresses a whole .gz with plain zlib calls: the reference the reader is compared with.
Bytes gunzip_reference(const std::string& path) {
  gzFile gz = gzopen(path.c_str(), "rb");
  Bytes out;
  if (!gz) return out;
  std::vector<uint8_t> buf(1 << 16);
  int n = 0;
  while ((n = gzread(gz, buf.data(), static_cast<unsigned>(buf.size()))) > 0)
    out.insert(out.end(), buf.begin(), buf.begin() + n);
  gzclose(gz);
  return out;
}

// An IDX header: 0, 0, type, rank, big-endian u32 dims; payload appended as given.
Bytes idx_bytes(uint8_t type, std::initializer_list<uint32_t> dims, const Bytes& payload) {
  Bytes b = {0, 0, type, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims) {
    b.push_back(static_cast<uint8_t>(d >> 24));
    b.push_back(static_cast<uint8_t>(d >> 16));
    b.push_back(static_cast<uint8_t>(d >> 8));
    b.push_back(static_cast<uint8_t>(d));
  }
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

Bytes iota_bytes(size_t n) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(i * 7 + 3);
  return b;
}

bool have_fashion() { return fs::exists(k_fashion + "t10k-images-idx3-ubyte.gz"); }

TEST(Idx, FashionMnistTestSetMatchesIndependentDecompression) {
  if (!have_fashion()) GTEST_FAIL() << "Fashion-MNIST is missing: cmake/install-deps.sh installs dataset-fashion-mnist";
  const std::string images_path = k_fashion + "t10k-images-idx3-ubyte.gz";
  const Matrix m = read_idx_matrix(images_path);
  ASSERT_EQ(m.rows, 10000);
  ASSERT_EQ(m.cols, 784);
  ASSERT_EQ(m.data.size(), size_t{10000} * 784);
  const Bytes ref = gunzip_reference(images_path);
  ASSERT_EQ(ref.size(), 16 + m.data.size());
  float lo = 1, hi = 0;
  for (size_t i = 0; i < m.data.size(); ++i) {
    ASSERT_EQ(m.data[i], static_cast<float>(ref[16 + i]) / 255.0f) << "element " << i;
    lo = std::min(lo, m.data[i]);
    hi = std::max(hi, m.data[i]);
  }
  EXPECT_EQ(lo, 0.0f);
  EXPECT_EQ(hi, 1.0f);

  const std::vector<int32_t> labels = read_idx_labels(k_fashion + "t10k-labels-idx1-ubyte.gz");
  ASSERT_EQ(labels.size(), 10000u);
  EXPECT_EQ(labels[0], 9);  // the first t10k item is an ankle boot
  std::vector<int> per_class(10, 0);
  for (int32_t l : labels) {
    ASSERT_GE(l, 0);
    ASSERT_LE(l, 9);
    ++per_class[l];
  }
  for (int c = 0; c < 10; ++c) EXPECT_EQ(per_class[c], 1000) << "class " << c;  // balanced test set
}

TEST(Idx, FashionMnistTrainLoadsFast) {
  if (!have_fashion()) GTEST_FAIL() << "Fashion-MNIST is missing: cmake/install-deps.sh installs dataset-fashion-mnist";
  const auto t0 = std::chrono::steady_clock::now();
  const Matrix m = read_idx_matrix(k_fashion + "train-images-idx3-ubyte.gz");
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(m.rows, 60000);
  ASSERT_EQ(m.cols, 784);
  const std::vector<int32_t> labels = read_idx_labels(k_fashion + "train-labels-idx1-ubyte.gz");
  ASSERT_EQ(labels.size(), 60000u);
  std::printf("train images 60000x784 loaded in %.3f s\n", s);
  // Generous bound for a shared 2-core machine; typical is a fraction of this.
  EXPECT_LT(s, 2.0);
}

TEST(Idx, MaxRowsReadsPrefix) {
  if (!have_fashion()) GTEST_FAIL() << "Fashion-MNIST is missing: cmake/install-deps.sh installs dataset-fashion-mnist";
  const std::string path = k_fashion + "t10k-images-idx3-ubyte.gz";
  const Matrix all = read_idx_matrix(path);
  const Matrix five = read_idx_matrix(path, 5);
  ASSERT_EQ(five.rows, 5);
  ASSERT_EQ(five.cols, 784);
  ASSERT_EQ(five.data.size(), 5u * 784);
  for (size_t i = 0; i < five.data.size(); ++i) ASSERT_EQ(five.data[i], all.data[i]);
  EXPECT_EQ(read_idx_matrix(path, 0).rows, 0);
  EXPECT_EQ(read_idx_matrix(path, 0).data.size(), 0u);
  EXPECT_EQ(read_idx_matrix(path, 123456).rows, 10000);  // clamped to dim0
  const std::vector<int32_t> three = read_idx_labels(k_fashion + "t10k-labels-idx1-ubyte.gz", 3);
  ASSERT_EQ(three.size(), 3u);
  EXPECT_EQ(three[0], 9);
}

TEST(Idx, PlainAndGzipGiveTheSameMatrix) {
  TempDir dir;
  const Bytes file = idx_bytes(0x08, {3, 2, 5}, iota_bytes(30));
  write_bytes(dir.file("a.idx"), file);
  write_gz(dir.file("a.bin"), file);  // gzip detected by magic, not by name
  const Matrix plain = read_idx_matrix(dir.file("a.idx"));
  const Matrix gz = read_idx_matrix(dir.file("a.bin"));
  ASSERT_EQ(plain.rows, 3);
  ASSERT_EQ(plain.cols, 10);
  ASSERT_EQ(gz.rows, 3);
  ASSERT_EQ(gz.cols, 10);
  for (size_t i = 0; i < 30; ++i) {
    EXPECT_EQ(plain.data[i], static_cast<float>(static_cast<uint8_t>(i * 7 + 3)) / 255.0f);
    EXPECT_EQ(gz.data[i], plain.data[i]);
  }
  const Matrix two = read_idx_matrix(dir.file("a.bin"), 2);
  ASSERT_EQ(two.rows, 2);
  EXPECT_EQ(two.data[19], plain.data[19]);
}

// Images keep their shape beside the flattened rows: [n, H, W] is one channel, [n, C, H, W] as
// written; other ranks have none. The rows themselves are the same row-major bytes either way.
TEST(Idx, ImageFilesKeepTheirShape) {
  TempDir dir;
  write_bytes(dir.file("hw.idx"), idx_bytes(0x08, {3, 2, 5}, iota_bytes(30)));
  write_gz(dir.file("hw.gz"), idx_bytes(0x08, {3, 2, 5}, iota_bytes(30)));
  for (const char* name : {"hw.idx", "hw.gz"}) {
    const Matrix m = read_idx_matrix(dir.file(name));
    EXPECT_EQ(m.image_shape, (std::vector<int64_t>{1, 2, 5})) << name;
    EXPECT_EQ(read_idx_matrix(dir.file(name), 1).image_shape, (std::vector<int64_t>{1, 2, 5})) << name;
  }
  write_bytes(dir.file("chw.idx"), idx_bytes(0x08, {2, 3, 2, 2}, iota_bytes(24)));
  const Matrix chw = read_idx_matrix(dir.file("chw.idx"));
  EXPECT_EQ(chw.cols, 12);
  EXPECT_EQ(chw.image_shape, (std::vector<int64_t>{3, 2, 2}));
  for (size_t i = 0; i < 24; ++i) EXPECT_EQ(chw.data[i], static_cast<float>(static_cast<uint8_t>(i * 7 + 3)) / 255.0f) << i;
  write_bytes(dir.file("flat.idx"), idx_bytes(0x08, {3, 10}, iota_bytes(30)));
  EXPECT_TRUE(read_idx_matrix(dir.file("flat.idx")).image_shape.empty());
  write_bytes(dir.file("one.idx"), idx_bytes(0x08, {30}, iota_bytes(30)));
  EXPECT_TRUE(read_idx_matrix(dir.file("one.idx")).image_shape.empty());
  write_bytes(dir.file("five.idx"), idx_bytes(0x08, {2, 1, 3, 2, 2}, iota_bytes(24)));
  EXPECT_TRUE(read_idx_matrix(dir.file("five.idx")).image_shape.empty());
}

TEST(Idx, EveryElementTypeConvertsAsIs) {
  TempDir dir;
  // i8: -128, -1, 0, 127 as one column of 4 rows (rank 1 gives cols = 1).
  write_bytes(dir.file("i8"), idx_bytes(0x09, {4}, {0x80, 0xFF, 0x00, 0x7F}));
  Matrix m = read_idx_matrix(dir.file("i8"));
  ASSERT_EQ(m.rows, 4);
  ASSERT_EQ(m.cols, 1);
  EXPECT_EQ(m.data, (std::vector<float>{-128, -1, 0, 127}));
  // i16 big-endian: -2 (FF FE), 258 (01 02).
  write_bytes(dir.file("i16"), idx_bytes(0x0B, {1, 2}, {0xFF, 0xFE, 0x01, 0x02}));
  m = read_idx_matrix(dir.file("i16"));
  EXPECT_EQ(m.data, (std::vector<float>{-2, 258}));
  // i32: -70000 (FF FE EE 90), 16909060 (01 02 03 04).
  write_bytes(dir.file("i32"), idx_bytes(0x0C, {2}, {0xFF, 0xFE, 0xEE, 0x90, 0x01, 0x02, 0x03, 0x04}));
  m = read_idx_matrix(dir.file("i32"));
  EXPECT_EQ(m.data, (std::vector<float>{-70000, 16909060}));
  // f32: 1.5 (3F C0 00 00), -0.25 (BE 80 00 00).
  write_bytes(dir.file("f32"), idx_bytes(0x0D, {2, 1}, {0x3F, 0xC0, 0, 0, 0xBE, 0x80, 0, 0}));
  m = read_idx_matrix(dir.file("f32"));
  EXPECT_EQ(m.data, (std::vector<float>{1.5f, -0.25f}));
  // f64: 3.0 (40 08 00..), -1e-3 rounds to the nearest float.
  Bytes f64 = {0x40, 0x08, 0, 0, 0, 0, 0, 0};
  uint64_t bits = 0;
  const double milli = -1e-3;
  std::memcpy(&bits, &milli, 8);
  for (int i = 7; i >= 0; --i) f64.push_back(static_cast<uint8_t>(bits >> (8 * i)));
  write_bytes(dir.file("f64"), idx_bytes(0x0E, {1, 1, 2}, f64));
  m = read_idx_matrix(dir.file("f64"));
  ASSERT_EQ(m.cols, 2);
  EXPECT_EQ(m.data, (std::vector<float>{3.0f, static_cast<float>(-1e-3)}));
}

TEST(Idx, LabelsOfEveryIntegerType) {
  TempDir dir;
  write_bytes(dir.file("u8"), idx_bytes(0x08, {3}, {0, 9, 255}));
  EXPECT_EQ(read_idx_labels(dir.file("u8")), (std::vector<int32_t>{0, 9, 255}));
  write_bytes(dir.file("i32"), idx_bytes(0x0C, {2}, {0, 0, 0x01, 0x00, 0xFF, 0xFF, 0xFF, 0xFF}));
  EXPECT_EQ(read_idx_labels(dir.file("i32")), (std::vector<int32_t>{256, -1}));
  write_bytes(dir.file("img"), idx_bytes(0x08, {2, 2}, {1, 2, 3, 4}));
  expect_error([&] { read_idx_labels(dir.file("img")); }, {dir.file("img"), "rank-1", "rank 2", "2×2"});
  write_bytes(dir.file("f32"), idx_bytes(0x0D, {1}, {0x3F, 0x80, 0, 0}));
  expect_error([&] { read_idx_labels(dir.file("f32")); }, {dir.file("f32"), "integer", "f32"});
}

TEST(Idx, MissingEmptyAndNotIdx) {
  TempDir dir;
  expect_error([&] { read_idx_matrix(dir.file("nope.gz")); },
               {dir.file("nope.gz"), "cannot open", "No such file"});
  write_bytes(dir.file("empty"), {});
  expect_error([&] { read_idx_matrix(dir.file("empty")); }, {dir.file("empty"), "empty file"});
  write_bytes(dir.file("zip"), {0x50, 0x4B, 0x03, 0x04, 0, 0, 0, 0});
  expect_error([&] { read_idx_matrix(dir.file("zip")); },
               {dir.file("zip"), "not an IDX file: magic bytes 0x50 0x4B (expected 0x00 0x00)"});
  write_gz(dir.file("text.gz"), {'h', 'e', 'l', 'l', 'o'});
  expect_error([&] { read_idx_matrix(dir.file("text.gz")); },
               {dir.file("text.gz"), "not an IDX file: magic bytes 0x68 0x65", "gzip"});
  write_bytes(dir.file("short"), {0, 0, 8});
  expect_error([&] { read_idx_matrix(dir.file("short")); }, {dir.file("short"), "truncated header"});
  expect_error([&] { read_idx_matrix(fs::temp_directory_path().string()); }, {"not a regular file"});
}

TEST(Idx, BadHeaderFields) {
  TempDir dir;
  write_bytes(dir.file("type"), idx_bytes(0x07, {2}, {1, 2}));
  expect_error([&] { read_idx_matrix(dir.file("type")); },
               {dir.file("type"), "unknown IDX data type byte 0x07"});
  write_bytes(dir.file("rank0"), {0, 0, 8, 0, 1, 2});
  expect_error([&] { read_idx_matrix(dir.file("rank0")); }, {dir.file("rank0"), "rank is 0"});
  write_bytes(dir.file("rank200"), Bytes{0, 0, 8, 200, 0, 0, 0, 1});
  expect_error([&] { read_idx_matrix(dir.file("rank200")); }, {dir.file("rank200"), "rank 200", "absurd"});
  write_bytes(dir.file("dims"), {0, 0, 8, 3, 0, 0, 0, 2, 0, 0});  // rank 3 needs 12 bytes of dims
  expect_error([&] { read_idx_matrix(dir.file("dims")); },
               {dir.file("dims"), "truncated header", "needs 12 bytes"});
  write_bytes(dir.file("zero"), idx_bytes(0x08, {10, 0, 28}, {}));
  expect_error([&] { read_idx_matrix(dir.file("zero")); },
               {dir.file("zero"), "dimension 1 is 0", "10×0×28"});
  write_bytes(dir.file("huge"), idx_bytes(0x0E, {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, {1, 2, 3}));
  expect_error([&] { read_idx_matrix(dir.file("huge")); }, {dir.file("huge"), "size overflow"});
}

TEST(Idx, TruncatedAndTrailingData) {
  TempDir dir;
  write_bytes(dir.file("cut"), idx_bytes(0x08, {3, 2, 2}, iota_bytes(5)));
  expect_error([&] { read_idx_matrix(dir.file("cut")); },
               {dir.file("cut"), "truncated: header promises 3×2×2 = 12 bytes of data, file has 5"});
  write_bytes(dir.file("cut32"), idx_bytes(0x0D, {4, 2}, iota_bytes(30)));
  expect_error([&] { read_idx_matrix(dir.file("cut32")); },
               {dir.file("cut32"), "truncated: header promises 4×2 × 4-byte f32 = 32 bytes of data, file has 30"});
  write_gz(dir.file("cut.gz"), idx_bytes(0x08, {3, 2, 2}, iota_bytes(11)));
  expect_error([&] { read_idx_matrix(dir.file("cut.gz")); },
               {dir.file("cut.gz"), "truncated: header promises 3×2×2 = 12 bytes", "has 11"});
  // max_rows still validates the whole file.
  expect_error([&] { read_idx_matrix(dir.file("cut.gz"), 1); }, {dir.file("cut.gz"), "truncated"});
  write_bytes(dir.file("trail"), idx_bytes(0x08, {3, 2}, iota_bytes(9)));
  expect_error([&] { read_idx_matrix(dir.file("trail")); },
               {dir.file("trail"), "3 trailing bytes", "6 bytes of data"});
  write_gz(dir.file("trail.gz"), idx_bytes(0x08, {3, 2}, iota_bytes(7)));
  expect_error([&] { read_idx_matrix(dir.file("trail.gz"), 2); }, {dir.file("trail.gz"), "1 trailing bytes"});
  write_bytes(dir.file("labels"), idx_bytes(0x08, {10}, iota_bytes(4)));
  expect_error([&] { read_idx_labels(dir.file("labels")); }, {dir.file("labels"), "truncated"});
}

TEST(Idx, CorruptGzipStreams) {
  TempDir dir;
  const Bytes file = idx_bytes(0x08, {200, 50}, iota_bytes(10000));
  write_gz(dir.file("good.gz"), file);
  const Bytes gz = read_file_bytes(dir.file("good.gz"));
  ASSERT_GT(gz.size(), 40u);
  ASSERT_EQ(read_idx_matrix(dir.file("good.gz")).rows, 200);

  // Cut the compressed stream in half: zlib sees the stream end early.
  write_bytes(dir.file("half.gz"), Bytes(gz.begin(), gz.begin() + gz.size() / 2));
  expect_error([&] { read_idx_matrix(dir.file("half.gz")); },
               {dir.file("half.gz"), "corrupt gzip stream", "truncated"});
  // Damage the CRC in the trailer: every byte decompresses, the check at the end fails.
  Bytes bad_crc = gz;
  bad_crc[gz.size() - 8] ^= 0xFF;
  write_bytes(dir.file("crc.gz"), bad_crc);
  expect_error([&] { read_idx_matrix(dir.file("crc.gz"), 1); }, {dir.file("crc.gz"), "corrupt gzip stream"});
  // Garbage where the deflate data should be.
  Bytes garbage = gz;
  for (size_t i = 10; i < gz.size() - 8; ++i) garbage[i] = static_cast<uint8_t>(0xFF - i);
  write_bytes(dir.file("garbage.gz"), garbage);
  expect_error([&] { read_idx_matrix(dir.file("garbage.gz")); }, {dir.file("garbage.gz"), "corrupt gzip stream"});
  // Only the two gzip magic bytes.
  write_bytes(dir.file("magic.gz"), {0x1f, 0x8b});
  expect_error([&] { read_idx_matrix(dir.file("magic.gz")); }, {dir.file("magic.gz")});
}

}  // namespace
}  // namespace ae
