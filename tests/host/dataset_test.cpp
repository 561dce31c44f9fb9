// Dataset dispatch tests: the reader is chosen by content (IDX and NPY magic, plain or gzip), names
// only decide for text; options that do not fit a format are refused; labels from every format;
// save_matrix picks the writer by extension. Uses the real Fashion-MNIST t10k files when installed.
#include "host/data/dataset.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstring>

#include "host/data/idx.h"
#include "host/data/npy.h"
#include "tests/host/data_test_util.h"

namespace ae {
namespace {

using test::expect_error;
using test::read_all;
namespace fs = std::filesystem;

const std::string k_fashion = "/usr/share/datasets/fashion-mnist/";

// IDX u8 file: 0, 0, 0x08, rank, big-endian u32 dims, then the bytes.
std::string idx_u8(std::initializer_list<uint32_t> dims, const std::string& payload) {
  std::string b = {0, 0, 0x08, static_cast<char>(dims.size())};
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) b += static_cast<char>((d >> s) & 0xFF);
  return b + payload;
}

std::string gzip(const std::string& bytes) {
  uLongf n = compressBound(static_cast<uLong>(bytes.size())) + 32;
  std::string out(n, '\0');
  z_stream zs{};
  deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);  // +16: gzip wrapper
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  zs.avail_in = static_cast<uInt>(bytes.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// A one-row float32 NPY file of shape (n, 1) holding `values`, written with save_npy.
std::string npy_column(const std::string& path, const std::vector<float>& values) {
  save_npy(path, values.data(), static_cast<int64_t>(values.size()), 1);
  return path;
}

class Dataset : public test::DataDir {};

TEST_F(Dataset, FashionMnistThroughTheDispatcher) {
  const std::string images = k_fashion + "t10k-images-idx3-ubyte.gz";
  if (!fs::exists(images)) GTEST_FAIL() << "Fashion-MNIST is missing: cmake/install-deps.sh installs dataset-fashion-mnist";
  const CsvData d = load_dataset(images);
  const Matrix ref = read_idx_matrix(images);
  EXPECT_EQ(d.features.rows, 10000);
  EXPECT_EQ(d.features.cols, 784);
  EXPECT_TRUE(d.features.data == ref.data);
  EXPECT_TRUE(d.labels.empty());
  LoadOptions first;
  first.max_rows = 3;
  const CsvData three = load_dataset(images, first);
  EXPECT_EQ(three.features.rows, 3);
  EXPECT_TRUE(std::equal(three.features.data.begin(), three.features.data.end(), ref.data.begin()));
  const std::vector<int32_t> labels = load_labels(k_fashion + "t10k-labels-idx1-ubyte.gz");
  ASSERT_EQ(labels.size(), 10000u);
  EXPECT_EQ(labels[0], 9);  // the first t10k item is an ankle boot
  EXPECT_EQ(load_labels(k_fashion + "t10k-labels-idx1-ubyte.gz", "", 2), (std::vector<int32_t>{9, 2}));
}

TEST_F(Dataset, ReaderChosenByContentNotName) {
  const std::string idx = idx_u8({2, 2}, std::string("\x00\xFF\x33\x66", 4));
  const std::vector<float> idx_want = {0.0f, 1.0f, 51.0f / 255.0f, 102.0f / 255.0f};
  EXPECT_EQ(load_dataset(write("plain.bin", idx)).features.data, idx_want);
  EXPECT_EQ(load_dataset(write("images.csv", idx)).features.data, idx_want);  // misnamed: content wins
  EXPECT_EQ(load_dataset(write("noext", gzip(idx))).features.data, idx_want);
  const std::vector<float> x = {1.5f, -2, 3, 4.25f};
  save_npy(file("a.npy"), x.data(), 2, 2);
  fs::copy_file(file("a.npy"), file("a.txt"));
  EXPECT_EQ(load_dataset(file("a.npy")).features.data, x);
  EXPECT_EQ(load_dataset(file("a.txt")).features.data, x);
  for (const char* name : {"t.csv", "t.TSV", "t.txt"}) {
    const CsvData d = load_dataset(write(name, "a,b\n1.5,-2\n3,4.25\n"));
    EXPECT_EQ(d.features.data, x) << name;
    EXPECT_EQ(d.features.column_names, (std::vector<std::string>{"a", "b"})) << name;
  }
  LoadOptions o;
  o.csv.label_column = "kind";
  o.max_rows = 1;
  const CsvData d = load_dataset(write("l.csv", "a,kind\n1,x\n2,y\n"), o);
  EXPECT_EQ(d.features.data, (std::vector<float>{1}));
  EXPECT_EQ(d.labels, (std::vector<std::string>{"x"}));
}

TEST_F(Dataset, UnknownMissingEmptyAndMisfitFilesRefused) {
  expect_error([&] { load_dataset(file("nope.csv")); }, {"nope.csv: no such file"});
  expect_error([&] { load_dataset(write("e.npy", "")); }, {"e.npy: empty file"});
  expect_error([&] { load_dataset(m_dir.string()); }, {m_dir.string() + ": is a directory"});
  expect_error([&] { load_dataset(write("data.dat", "1,2\n")); },
               {"data.dat: unrecognised data format", "IDX", "NPY", ".csv"});
  expect_error([&] { load_dataset(write("a.npz", std::string("PK\x03\x04rest", 8))); },
               {"a.npz: a zip archive", "np.save"});
  expect_error([&] { load_dataset(write("t.csv.gz", gzip("a,b\n1,2\n"))); },
               {"t.csv.gz: gzip-compressed, but the content is not IDX"});
  // Named like a binary format without its magic: that reader's own message.
  expect_error([&] { load_dataset(write("x.npy", "a,b\n1,2\n")); }, {"x.npy: not an NPY file"});
  expect_error([&] { load_dataset(write("train-images-idx3-ubyte", "\x01\x02\x03\x04")); },
               {"train-images-idx3-ubyte: not an IDX file: magic bytes 0x01 0x02"});
  expect_error([&] { load_dataset(write("trunc.idx", idx_u8({2, 2}, "abc"))); }, {"trunc.idx: truncated"});
  // CSV options on binary formats, and data with nothing in it.
  save_npy(file("b.npy"), std::vector<float>{1, 2}.data(), 1, 2);
  LoadOptions o;
  o.csv.label_column = "0";
  expect_error([&] { load_dataset(file("b.npy"), o); }, {"b.npy: is an NPY file", "CSV files only"});
  save_npy(file("z.npy"), nullptr, 0, 3);
  expect_error([&] { load_dataset(file("z.npy")); }, {"z.npy: holds no rows"});
  save_npy(file("w.npy"), nullptr, 4, 0);
  expect_error([&] { load_dataset(file("w.npy")); }, {"w.npy: has 4 rows of 0 features"});
}

TEST_F(Dataset, LabelsFromEveryFormat) {
  EXPECT_EQ(load_labels(write("l.idx", idx_u8({3}, std::string("\x01\x00\x01", 3)))), (std::vector<int32_t>{1, 0, 1}));
  EXPECT_EQ(load_labels(write("l.csv", "is_anomaly\n0\n1\n")), (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(load_labels(write("m.csv", "0\n1\n1\n")), (std::vector<int32_t>{0, 1, 1}));
  EXPECT_EQ(load_labels(write("w.csv", "x,label,y\n0.5,1,q\n0.25,0,r\n"), "label"), (std::vector<int32_t>{1, 0}));
  EXPECT_EQ(load_labels(npy_column(file("l.npy"), {0, 1, 7})), (std::vector<int32_t>{0, 1, 7}));
  std::string one_d = read_all(file("l.npy"));  // same file, declared 1-D
  const size_t at = one_d.find("(3, 1)");
  one_d.replace(at, 6, "(3,)  ");
  EXPECT_EQ(load_labels(write("m.npy", one_d)), (std::vector<int32_t>{0, 1, 7}));

  expect_error([&] { load_labels(write("bad.csv", "y\n0\n1\nyes\n")); },
               {"bad.csv:4:1", "\"yes\" is not an integer label"});
  expect_error([&] { load_labels(write("wide.csv", "a,b\n0,1\n")); },
               {"wide.csv:1:", "has 2 fields", "one value per row"});
  expect_error(
      [&] {
        load_labels(npy_column(file("h.npy"), {0, 0.5f}));
      },
      {"h.npy: row 1 (0-based): 0.5 is not an integer label"});
  save_npy(file("two.npy"), std::vector<float>{0, 1, 1, 0}.data(), 2, 2);
  expect_error([&] { load_labels(file("two.npy")); },
               {"two.npy: labels must be one value per row", "2 values per row"});
  expect_error([&] { load_labels(file("two.npy"), "x"); }, {"two.npy: is an NPY file", "CSV files only"});
  expect_error([&] { load_labels(write("img.idx", idx_u8({1, 2}, "ab"))); }, {"img.idx: labels must be a rank-1"});
  expect_error([&] { load_labels(file("none.csv")); }, {"none.csv: no such file"});
}

TEST_F(Dataset, ImageShapeFlagParsed) {
  EXPECT_TRUE(parse_chw_shape("").empty());
  EXPECT_EQ(parse_chw_shape("1x28x28"), (std::vector<int64_t>{1, 28, 28}));
  EXPECT_EQ(parse_chw_shape("3X32x16"), (std::vector<int64_t>{3, 32, 16}));
  EXPECT_EQ(parse_chw_shape("3×32×32"), (std::vector<int64_t>{3, 32, 32}));
  EXPECT_EQ(chw_text({3, 32, 16}), "3x32x16");
  for (const char* bad : {"1x28", "28", "axbxc", "1x28x28x1", "1xx28", "x1x28", "1x28x", "+1x2x3", "-1x2x3", "1 x2x3",
                          "1.5x2x3", "1by28by28"})
    expect_error([&] { parse_chw_shape(bad); }, {"--image-shape '", bad, "': expected CxHxW", "e.g. 1x28x28"});
  expect_error([] { parse_chw_shape("0x28x28"); }, {"--image-shape '0x28x28': C, H and W must each be 1..1048576"});
  expect_error([] { parse_chw_shape("1x1048577x1"); }, {"must each be 1..1048576"});
  expect_error([] { parse_chw_shape("1x99999999999999999999x1"); }, {"must each be 1..1048576"});
  expect_error([] { parse_chw_shape("a\nbxcxd", "--shape"); }, {"--shape 'a\\nbxcxd'"});  // file-ish bytes shown escaped
}

TEST_F(Dataset, ImageShapeGivenForFilesWithoutOne) {
  std::string csv;
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 12; ++c) csv += std::to_string(r * 12 + c) + (c == 11 ? "\n" : ",");
  const std::string path = write("x.csv", csv);
  EXPECT_TRUE(load_dataset(path).features.image_shape.empty());
  LoadOptions o;
  o.image_shape = {3, 2, 2};
  const CsvData d = load_dataset(path, o);
  EXPECT_EQ(d.features.image_shape, (std::vector<int64_t>{3, 2, 2}));
  EXPECT_EQ(d.features.data, load_dataset(path).features.data);  // NCHW is the row order: nothing moves
  o.image_shape = {1, 3, 5};
  expect_error([&] { load_dataset(path, o); }, {path, "--image-shape 1x3x5 is 15 values per row", "rows hold 12"});
  o.image_shape_flag = "--shape";
  expect_error([&] { load_dataset(path, o); }, {path, "--shape 1x3x5"});
  // A flat NPY takes it too; an image stack must agree with its own.
  const std::vector<float> x(24, 0.5f);
  save_npy(file("flat.npy"), x.data(), 2, 12);
  o = {};
  o.image_shape = {1, 3, 4};
  EXPECT_EQ(load_dataset(file("flat.npy"), o).features.image_shape, (std::vector<int64_t>{1, 3, 4}));
  const std::string stack = write("s.idx", idx_u8({2, 3, 4}, std::string(24, '\x10')));
  EXPECT_EQ(load_dataset(stack, o).features.image_shape, (std::vector<int64_t>{1, 3, 4}));
  o.image_shape = {3, 2, 2};  // the same 12 values per row, another shape
  expect_error([&] { load_dataset(stack, o); },
               {stack, "holds 1x3x4 images (the file's own shape) but --image-shape says 3x2x2"});
}

TEST_F(Dataset, ImageShapeCheckedAgainstAConvolutionalInput) {
  Matrix m{2, 784, std::vector<float>(2 * 784), {}};
  check_image_shape(m, {1, 28, 28}, "--data x.csv", "the spec's input");  // no shape: read as NCHW
  m.image_shape = {1, 28, 28};
  check_image_shape(m, {1, 28, 28}, "--data x.npy", "the spec's input");
  check_image_shape(m, {}, "--data x.npy", "the spec's input");  // a dense input flattens any shape
  m.image_shape = {4, 14, 14};  // the same count, another image
  expect_error([&] { check_image_shape(m, {1, 28, 28}, "--data x.npy", "the spec's input"); },
               {"--data x.npy holds 4x14x14 images but the spec's input is 1x28x28"});
  m = Matrix{1, 3072, std::vector<float>(3072), {}, {3, 32, 32}};
  const std::string msg = expect_error([&] { check_image_shape(m, {1, 28, 28}, "--data d.npy", "the input of m.st"); },
                                       {"--data d.npy holds 3x32x32 images but the input of m.st is 1x28x28"});
  EXPECT_EQ(msg.find("channels-last"), std::string::npos) << msg;
  m.image_shape = {32, 32, 3};  // an (n, H, W, C) array read as NCHW
  expect_error([&] { check_image_shape(m, {3, 32, 32}, "--data d.npy", "the spec's input"); },
               {"holds 32x32x3 images but the spec's input is 3x32x32", "channels-last", "np.transpose(x, (0, 3, 1, 2))"});
}

TEST_F(Dataset, SaveMatrixByExtension) {
  const std::vector<float> x = {1, 2.5f, -3, 0.125f};
  save_matrix(file("o.npy"), x.data(), 2, 2, {"p", "q"});
  EXPECT_EQ(read_npy(file("o.npy")).data, x);
  save_matrix(file("o.CSV"), x.data(), 2, 2, {"p", "q"});
  EXPECT_EQ(read_all(file("o.CSV")), "p,q\n1,2.5\n-3,0.125\n");
  save_matrix(file("o.tsv"), x.data(), 2, 2);
  EXPECT_EQ(read_all(file("o.tsv")), "1\t2.5\n-3\t0.125\n");
  const Matrix m{2, 2, x, {"p", "q"}};
  save_matrix(file("m.csv"), m);
  EXPECT_EQ(load_dataset(file("m.csv")).features.column_names, m.column_names);
  expect_error([&] { save_matrix(file("o.txt"), x.data(), 2, 2); }, {"o.txt", "\".txt\"", ".npy", ".csv"});
  expect_error([&] { save_matrix(file("o"), x.data(), 2, 2); }, {"(none)"});
  EXPECT_FALSE(fs::exists(file("o.txt")));
  EXPECT_FALSE(fs::exists(file("o")));
}

}  // namespace
}  // namespace ae
