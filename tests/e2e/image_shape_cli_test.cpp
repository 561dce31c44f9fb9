// Image shapes through the real `ae` command (issue 12, item 3): IDX and NPY image stacks carry
// their C×H×W, --image-shape gives it to CSV and flat NPY files, and a convolutional model refuses
// images of another shape before any work, in one line naming the file, its shape and the model's.
// A dense model flattens any shape as it always has. Every refusal happens on the data, before a
// graph is built or anything is written.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "ae/ae.hpp"
#include "tests/e2e/e2e_util.h"

namespace ae::e2e {
namespace {

// The classic 28×28 convolutional autoencoder of the README, and a small dense one.
const std::string CONV = "1x28x28-C16k3s2p1r-C32k3s2p1r-C64k7|-T32k7r-T16k3s2p1o1r-T1k3s2p1o1s";
const std::string DENSE = "784-32r-8-32r-784s";

// A float32 NPY file of any shape, every value `fill`.
void write_npy(const std::string& path, const std::vector<int64_t>& shape, float fill = 0.5f) {
  std::string dims;
  int64_t n = 1;
  for (int64_t d : shape) dims += std::to_string(d) + ", ", n *= d;
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  header.append(63 - (10 + header.size()) % 64, ' ');
  header += '\n';
  std::string bytes = std::string("\x93NUMPY\x01\x00", 8);
  bytes += char(header.size() & 0xFF), bytes += char(header.size() >> 8);
  bytes += header;
  std::string data(size_t(n) * 4, '\0');
  for (int64_t i = 0; i < n; ++i) std::memcpy(&data[size_t(i) * 4], &fill, 4);
  write_bytes(path, bytes + data);
}

// A CSV of `rows` rows of `cols` numbers in [0, 1], no header.
void write_csv(const std::string& path, int rows, int cols) {
  std::string s;
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) s += std::to_string(((r * cols + c) % 10) / 10.0) + (c + 1 == cols ? "\n" : ",");
  write_bytes(path, s);
}

class ImageShapeCli : public ::testing::Test {
 protected:
  ScratchDir dir;
  // `ae train` of one step, without validation unless `extra` gives --val.
  std::vector<std::string> train(const std::string& spec, const std::string& data, std::vector<std::string> extra = {}) {
    std::vector<std::string> a = {"train", "--spec", spec, "--data", data, "--steps", "1", "--batch", "2", "--quiet", "--out", dir / "m.st"};
    if (std::find(extra.begin(), extra.end(), "--val") == extra.end()) a.push_back("--no-val");
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
};

TEST_F(ImageShapeCli, TrainRefusesImagesOfAnotherShape) {
  const std::string rgb = dir / "rgb.npy", same_count = dir / "c4.npy", last = dir / "last.npy", csv = dir / "x.csv";
  write_npy(rgb, {4, 3, 32, 32});
  write_npy(same_count, {4, 4, 14, 14});  // 784 values per row, like 1x28x28
  write_npy(last, {4, 14, 14, 4});        // channels last, four channels
  write_csv(csv, 4, 784);
  expect_one_line_error(dir, train(CONV, rgb), "--data " + rgb + " holds 3x32x32 images but the spec's input is 1x28x28");
  expect_one_line_error(dir, train(CONV, same_count), "--data " + same_count + " holds 4x14x14 images but the spec's input is 1x28x28");
  expect_one_line_error(dir, train("4x14x14-C8k3s2p1r|-T4k3s2p1o1s", last), "np.transpose(x, (0, 3, 1, 2))");
  // One channel last is the same bytes as one channel first (Keras's MNIST layout): taken as it is.
  const std::string gray_last = dir / "gray_last.npy";
  write_npy(gray_last, {4, 28, 28, 1});
  const auto r = run_ae(train(CONV, gray_last), dir);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::filesystem::remove(dir / "m.st"), std::filesystem::remove(dir / "m.st.ckpt");
  expect_one_line_error(dir, train(CONV, csv, {"--image-shape", "4x14x14"}), "--data " + csv + " holds 4x14x14 images");
  // --val is checked as --data is, before any training.
  expect_one_line_error(dir, train(CONV, csv, {"--val", same_count}), "--val " + same_count + " holds 4x14x14 images");
}

TEST_F(ImageShapeCli, BadImageShapeFlagsAreOneLine) {
  const std::string csv = dir / "x.csv", idx = dir / "img.idx";
  write_csv(csv, 4, 784);
  std::vector<uint8_t> px(4 * 784, 7);
  write_bytes(idx, idx_u8(4, 28, 28, px));
  Autoencoder::create(DENSE, 1).save(dir / "dense.st");
  for (const std::string bad : {"1x28", "0x28x28", "axbxc", "", "1x28x28x1"}) {
    SCOPED_TRACE(bad);
    expect_one_line_error(dir, train(DENSE, csv, {"--image-shape", bad}), "--image-shape '" + bad + "'");
    expect_one_line_error(dir, {"encode", "--model", dir / "dense.st", "--data", csv, "--out", dir / "c.npy", "--image-shape", bad},
                          "--image-shape '" + bad + "'");
    expect_one_line_error(dir, {"score", "--model", dir / "dense.st", "--data", csv, "--out", dir / "s.csv", "--image-shape", bad},
                          "--image-shape '" + bad + "'");
  }
  // C·H·W against the columns: the file, the flag and both numbers.
  expect_one_line_error(dir, train(DENSE, csv, {"--image-shape", "1x28x29"}),
                        csv + ": --image-shape 1x28x29 is 812 values per row (C·H·W), but the file's rows hold 784");
  // A file with its own shape must agree with the flag.
  expect_one_line_error(dir, train(DENSE, idx, {"--image-shape", "4x14x14"}),
                        idx + ": holds 1x28x28 images (the file's own shape) but --image-shape says 4x14x14");
  // Not on commands whose files are no model's input.
  RunResult r = run_ae({"decode", "--model", dir / "dense.st", "--codes", csv, "--out", dir / "y.npy", "--image-shape", "1x28x28"}, dir);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--image-shape"), std::string::npos) << r.err;
}

TEST_F(ImageShapeCli, ModelCommandsRefuseImagesOfAnotherShape) {
  const std::string rgb = dir / "rgb.npy", conv = dir / "conv.st";
  write_npy(rgb, {4, 3, 32, 32});
  Autoencoder::create(CONV, 1).save(conv);
  const std::string want = "--data " + rgb + " holds 3x32x32 images but the input of " + conv + " is 1x28x28";
  expect_one_line_error(dir, {"encode", "--model", conv, "--data", rgb, "--out", dir / "c.npy"}, want);
  expect_one_line_error(dir, {"reconstruct", "--model", conv, "--data", rgb, "--out", dir / "y.npy"}, want);
  expect_one_line_error(dir, {"score", "--model", conv, "--data", rgb, "--out", dir / "s.csv"}, want);
  expect_one_line_error(dir, {"compress", "--model", conv, "--data", rgb, "--out", dir / "c.aec"}, want);
  expect_one_line_error(dir, {"report", "--model", conv, "--data", rgb, "--out", dir / "report"}, want);
  expect_one_line_error(dir, {"cluster", "--model", conv, "--data", rgb, "--out", dir / "a.csv"}, want);
}

// Rows of the spec's shape train, with it recorded or not (a CSV's rows are read as NCHW), and
// the trained model encodes them.
TEST_F(ImageShapeCli, ConvolutionalModelsTakeTheirShape) {
  const std::string stack = dir / "stack.npy", hw = dir / "hw.npy", csv = dir / "x.csv", model = dir / "m.st";
  write_npy(stack, {4, 1, 28, 28});
  write_npy(hw, {4, 28, 28});
  write_csv(csv, 4, 784);
  for (const auto& args : {train(CONV, stack), train(CONV, hw), train(CONV, csv), train(CONV, csv, {"--image-shape", "1x28x28"})}) {
    expect_success(run_ae(args, dir));
    ASSERT_TRUE(fs::exists(model));
  }
  expect_success(run_ae({"encode", "--model", model, "--data", stack, "--out", dir / "c.npy", "--quiet"}, dir));
  expect_success(run_ae({"encode", "--model", model, "--data", csv, "--out", dir / "c.npy", "--quiet"}, dir));
  expect_one_line_error(dir, {"encode", "--model", model, "--data", csv, "--image-shape", "4x14x14", "--out", dir / "c2.npy"},
                        "--data " + csv + " holds 4x14x14 images but the input of " + model + " is 1x28x28");
}

TEST_F(ImageShapeCli, DenseModelsFlattenAnyShape) {
  const std::string stack = dir / "stack.npy", c4 = dir / "c4.npy", csv = dir / "x.csv", rgb = dir / "rgb.npy";
  write_npy(stack, {4, 28, 28});
  write_npy(rgb, {4, 3, 32, 32});
  write_npy(c4, {4, 4, 14, 14});
  write_csv(csv, 4, 784);
  for (const auto& args : {train(DENSE, stack), train(DENSE, c4), train(DENSE, csv, {"--image-shape", "1x28x28"}),
                           train(DENSE, csv, {"--image-shape", "4x14x14"})}) {
    expect_success(run_ae(args, dir));
    EXPECT_TRUE(fs::exists(dir / "m.st"));
    fs::remove(dir / "m.st");
  }
  // The feature count is checked as before.
  expect_one_line_error(dir, train(DENSE, rgb), "--data " + rgb + ": rows have 3072 features but the model's input is 784");
}

TEST_F(ImageShapeCli, ReconstructDrawsTheDataShape) {
  const std::string rgb = dir / "rgb.npy", model = dir / "m768.st";
  write_npy(rgb, {4, 3, 16, 16});  // 768 values per row: no square, but an image shape
  Autoencoder::create("768-16-768s", 1).save(model);
  expect_success(run_ae({"reconstruct", "--model", model, "--data", rgb, "--out", dir / "y.npy", "--grid", dir / "g.png", "--quiet"}, dir));
  EXPECT_TRUE(fs::exists(dir / "g.png"));
  // The grid's own HxW still works, and is only for the grid.
  expect_success(run_ae({"reconstruct", "--model", model, "--data", rgb, "--out", dir / "y.npy", "--grid", dir / "g.png",
                         "--image-shape", "24x32", "--quiet"}, dir));
  expect_one_line_error(dir, {"reconstruct", "--model", model, "--data", rgb, "--out", dir / "y2.npy", "--image-shape", "24x32"},
                        "only used with --grid");
  // A CxHxW is the data's: without --grid it is checked and nothing more.
  expect_success(run_ae({"reconstruct", "--model", model, "--data", rgb, "--out", dir / "y.npy", "--image-shape", "3x16x16", "--quiet"}, dir));
  expect_one_line_error(dir, {"reconstruct", "--model", model, "--data", rgb, "--out", dir / "y2.npy", "--image-shape", "1x16x48"},
                        "holds 3x16x16 images (the file's own shape) but --image-shape says 1x16x48");
}

}  // namespace
}  // namespace ae::e2e
