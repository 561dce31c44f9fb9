// Image grid PNG tests: a grid written by write_image_grid_png is read back with libpng and
// compared pixel for pixel with a layout worked out here (padding, zoom, the empty last cell, the
// value mapping and its clamping), plus the image-shape flag helpers and the refusals, none of
// which may leave a file or a temporary behind.
#include <gtest/gtest.h>
#include <png.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "host/data/png.h"
#include "kernels/common/error.h"
#include "tests/expect_error.h"
#include "tests/temp_dir.h"

namespace ae {
namespace {

using test::expect_error;

// A PNG read back as 8-bit gray through libpng's simplified API, independent of how it was written.
struct Gray {
  int64_t width = 0, height = 0;
  std::vector<uint8_t> pixels;  // [height, width]
  int at(int64_t y, int64_t x) const { return pixels[static_cast<size_t>(y * width + x)]; }
};

Gray read_gray_png(const std::string& path) {
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  Gray g;
  if (!png_image_begin_read_from_file(&image, path.c_str())) {
    ADD_FAILURE() << "libpng cannot read " << path << ": " << image.message;
    return g;
  }
  EXPECT_EQ(image.format, static_cast<png_uint_32>(PNG_FORMAT_GRAY)) << "written as 8-bit gray, no alpha";
  image.format = PNG_FORMAT_GRAY;
  g.width = image.width;
  g.height = image.height;
  g.pixels.resize(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, g.pixels.data(), 0, nullptr)) {
    ADD_FAILURE() << "libpng cannot decode " << path << ": " << image.message;
    g = {};
  }
  return g;
}

class PngTest : public ::testing::Test {
 protected:
  std::string file(const std::string& name) const { return m_tmp.file(name); }
  test::TempDir m_tmp{"ae_png_test"};
};

// 5 images of 3×4 in 2 columns, pad 1, zoom 2, values [0, 255] mapping to themselves: the grid is
// 2·8 + 3 = 19 wide and 3·6 + 4 = 22 high, and its sixth cell stays background.
TEST_F(PngTest, GridLayoutAndPixelsExact) {
  constexpr int64_t n = 5, h = 3, w = 4;
  std::vector<float> x(n * h * w);  // [5, 12]
  std::vector<int> expect_value(x.size());
  for (int64_t k = 0; k < n; ++k)
    for (int64_t p = 0; p < h * w; ++p) {
      x[k * h * w + p] = static_cast<float>(k * 40 + p * 3);  // 0..193
      expect_value[k * h * w + p] = static_cast<int>(k * 40 + p * 3);
    }
  x[0] = -10.0f;                                    // below lo: clamped to 0
  x[1] = 300.0f;                                    // above hi: clamped to 255
  x[2] = std::numeric_limits<float>::quiet_NaN();   // NaN: 0
  x[3] = std::numeric_limits<float>::infinity();    // +inf: 255
  x[12] = 12.4f;                                    // rounds down
  x[13] = 12.6f;                                    // rounds up
  x[14] = -std::numeric_limits<float>::infinity();  // -inf: 0
  expect_value[0] = 0, expect_value[1] = 255, expect_value[2] = 0, expect_value[3] = 255;
  expect_value[12] = 12, expect_value[13] = 13, expect_value[14] = 0;

  ImageGridOptions opt;
  opt.height = h, opt.width = w, opt.cols = 2, opt.pad = 1, opt.zoom = 2, opt.lo = 0, opt.hi = 255;
  opt.background = 200;
  write_image_grid_png(file("grid.png"), x.data(), n, h * w, opt);
  EXPECT_EQ(m_tmp.entries(), std::vector<std::string>{"grid.png"}) << "a temporary was left behind";

  const Gray g = read_gray_png(file("grid.png"));
  ASSERT_EQ(g.width, 19);
  ASSERT_EQ(g.height, 22);
  // Hand-picked pixels first (readable failures), then every pixel.
  EXPECT_EQ(g.at(0, 0), 200);    // top-left padding
  EXPECT_EQ(g.at(1, 1), 0);      // image 0, pixel (0, 0): -10 clamped
  EXPECT_EQ(g.at(2, 2), 0);      // same pixel, zoomed
  EXPECT_EQ(g.at(1, 3), 255);    // image 0, pixel (0, 1): 300 clamped
  EXPECT_EQ(g.at(1, 9), 200);    // padding between columns
  EXPECT_EQ(g.at(1, 10), 12);    // image 1, pixel (0, 0): 12.4 rounds down
  EXPECT_EQ(g.at(1, 12), 13);    // image 1, pixel (0, 1): 12.6 rounds up
  EXPECT_EQ(g.at(1, 16), 49);    // image 1, pixel (0, 3): 40 + 3·3
  EXPECT_EQ(g.at(7, 1), 200);    // padding between grid rows
  EXPECT_EQ(g.at(8, 1), 80);     // image 2, pixel (0, 0)
  EXPECT_EQ(g.at(15, 10), 200);  // the empty sixth cell
  EXPECT_EQ(g.at(21, 18), 200);  // bottom-right padding
  for (int64_t y = 0; y < g.height; ++y)
    for (int64_t xx = 0; xx < g.width; ++xx) {
      int expected = 200;
      const int64_t r = (y - 1) / 7, c = (xx - 1) / 9;  // cell = 6 (or 8) pixels + 1 pad
      const int64_t i2 = (y - 1) % 7, j2 = (xx - 1) % 9;
      const int64_t k = r * 2 + c;
      if (y >= 1 && xx >= 1 && i2 < 6 && j2 < 8 && k < n) expected = expect_value[k * h * w + (i2 / 2) * w + j2 / 2];
      ASSERT_EQ(g.at(y, xx), expected) << "pixel (" << y << ", " << xx << ")";
    }
}

TEST_F(PngTest, RangeMapsLoToBlackAndHiToWhite) {
  const std::vector<float> x = {-1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 2.0f};  // one 1×6 image
  ImageGridOptions opt;
  opt.height = 1, opt.width = 6, opt.pad = 0, opt.lo = -1, opt.hi = 1;
  write_image_grid_png(file("range.png"), x.data(), 1, 6, opt);
  const Gray g = read_gray_png(file("range.png"));
  ASSERT_EQ(g.width, 6);
  ASSERT_EQ(g.height, 1);
  // 255·t for t = 0, 0.25, 0.5, 0.75, 1, 1.5: halves round up, 1.5 clamps.
  EXPECT_EQ(g.pixels, (std::vector<uint8_t>{0, 64, 128, 191, 255, 255}));
}

TEST_F(PngTest, DefaultColumnsMakeAboutSquareGrids) {
  // rows → (cols, grid rows): ⌈√rows⌉ columns; cols larger than rows is capped at rows.
  struct Case {
    int64_t rows, cols, want_w, want_h;
  };
  for (const Case& c : {Case{1, 0, 1, 1}, Case{4, 0, 2, 2}, Case{5, 0, 3, 2}, Case{10, 0, 4, 3}, Case{3, 8, 3, 1}}) {
    const std::vector<float> x(static_cast<size_t>(c.rows), 0.5f);
    ImageGridOptions opt;
    opt.height = 1, opt.width = 1, opt.pad = 0, opt.cols = c.cols;
    write_image_grid_png(file("sq.png"), x.data(), c.rows, 1, opt);
    const Gray g = read_gray_png(file("sq.png"));
    EXPECT_EQ(g.width, c.want_w) << c.rows << " rows, cols " << c.cols;
    EXPECT_EQ(g.height, c.want_h) << c.rows << " rows, cols " << c.cols;
  }
  // 64 MNIST-size images with the defaults: 8 × 8 cells of 28 pixels, 2 pixels of padding.
  const std::vector<float> x(64 * 784, 1.0f);
  write_image_grid_png(file("mnist.png"), x.data(), 64, 784, ImageGridOptions{});
  const Gray g = read_gray_png(file("mnist.png"));
  EXPECT_EQ(g.width, 8 * 30 + 2);
  EXPECT_EQ(g.height, 8 * 30 + 2);
  EXPECT_EQ(m_tmp.entries(), (std::vector<std::string>{"mnist.png", "sq.png"}));
}

TEST_F(PngTest, ImageShapeFlag) {
  EXPECT_EQ(parse_image_shape(""), std::nullopt);
  EXPECT_EQ(parse_image_shape("28x28"), (std::pair<int64_t, int64_t>{28, 28}));
  EXPECT_EQ(parse_image_shape("3X4"), (std::pair<int64_t, int64_t>{3, 4}));
  EXPECT_EQ(parse_image_shape("32×24"), (std::pair<int64_t, int64_t>{32, 24}));
  expect_error([] { parse_image_shape("28by28"); }, {"--image-shape '28by28': expected HxW, e.g. 28x28"});
  for (const char* bad : {"x", "28x", "x28", "28x28x", "+3x4", "-3x4", " 28x28", "28 x 28", "2.5x4", "3x4x5"})
    expect_error([&] { parse_image_shape(bad); }, {"--image-shape '", "expected HxW"});
  expect_error([] { parse_image_shape("0x28"); }, {"--image-shape '0x28': each side must be 1..16384"});
  expect_error([] { parse_image_shape("16385x1"); }, {"each side must be 1..16384"});
  expect_error([] { parse_image_shape("99999999999999999999x1"); }, {"each side must be 1..16384"});
  expect_error([] { parse_image_shape("ab", "--recon-shape"); }, {"--recon-shape 'ab': expected HxW"});
  expect_error([] { parse_image_shape("a\nb"); }, {"'a\\nb'"});  // file-ish bytes shown escaped

  EXPECT_EQ(default_image_shape(784), (std::pair<int64_t, int64_t>{28, 28}));
  EXPECT_EQ(default_image_shape(1), (std::pair<int64_t, int64_t>{1, 1}));
  EXPECT_EQ(default_image_shape(1024), (std::pair<int64_t, int64_t>{32, 32}));
  EXPECT_EQ(default_image_shape(785), std::nullopt);
  EXPECT_EQ(default_image_shape(783), std::nullopt);
  EXPECT_EQ(default_image_shape(0), std::nullopt);
  EXPECT_EQ(default_image_shape(int64_t{3037000499} * 3037000499), std::nullopt);  // square, but too large

  EXPECT_EQ(image_shape_for(784, ""), (std::pair<int64_t, int64_t>{28, 28}));
  EXPECT_EQ(image_shape_for(784, "7x112"), (std::pair<int64_t, int64_t>{7, 112}));
  expect_error([] { image_shape_for(785, ""); }, {"785 features are not a square image", "--image-shape HxW"});
  expect_error([] { image_shape_for(785, "28x28"); }, {"--image-shape 28x28 holds 784 pixels", "785 features"});
}

TEST_F(PngTest, RefusalsLeaveNothingBehind) {
  const std::vector<float> x(2 * 785, 0.5f);
  ImageGridOptions opt;
  expect_error([&] { write_image_grid_png(file("a.png"), x.data(), 2, 785, opt); },
               {"a.png", "a row of 785 features is not a 28×28 image", "--image-shape HxW"});
  expect_error([&] { write_image_grid_png(file("a.png"), x.data(), 0, 784, opt); }, {"no images to draw"});
  opt.lo = 1, opt.hi = 1;
  expect_error([&] { write_image_grid_png(file("a.png"), x.data(), 1, 784, opt); }, {"lo < hi"});
  opt.lo = 0, opt.hi = std::numeric_limits<float>::infinity();
  expect_error([&] { write_image_grid_png(file("a.png"), x.data(), 1, 784, opt); }, {"not finite"});
  opt.hi = 1, opt.zoom = 0;
  expect_error([&] { write_image_grid_png(file("a.png"), x.data(), 1, 784, opt); }, {"zoom 0"});
  opt.zoom = 1, opt.pad = -1;
  expect_error([&] { write_image_grid_png(file("a.png"), x.data(), 1, 784, opt); }, {"pad -1"});
  opt.pad = 2, opt.cols = -3;
  expect_error([&] { write_image_grid_png(file("a.png"), x.data(), 1, 784, opt); }, {"cols -3"});
  opt.cols = 0, opt.height = 0, opt.width = 784;
  expect_error([&] { write_image_grid_png(file("a.png"), x.data(), 1, 784, opt); }, {"out of range"});

  // Too large: one row of 5000 images, a 600-zoomed image, and an absurd row count (no overflow).
  const std::vector<float> many(5000 * 4, 0.5f);
  ImageGridOptions small;
  small.height = 2, small.width = 2, small.cols = 5000;
  expect_error([&] { write_image_grid_png(file("a.png"), many.data(), 5000, 4, small); },
               {"5000 images of 2×2 in 5000 columns", "20002×6 pixel grid", "over 16384 pixels a side"});
  small.cols = 0, small.zoom = 9000;
  expect_error([&] { write_image_grid_png(file("a.png"), many.data(), 1, 4, small); }, {"18004×18004"});
  small.zoom = 1;
  expect_error([&] { write_image_grid_png(file("a.png"), many.data(), int64_t{1} << 40, 4, small); },
               {"more than 16384"});

  // A missing directory: the error names the path; nothing is created anywhere.
  expect_error([&] { write_image_grid_png(file("missing/a.png"), many.data(), 4, 4, small); },
               {"missing/a.png", "No such file or directory"});
  EXPECT_TRUE(m_tmp.entries().empty()) << "left: " << m_tmp.entries().front();
}

TEST_F(PngTest, OverwritesAtomically) {
  const std::vector<float> black(4, 0.0f), white(4, 1.0f);
  ImageGridOptions opt;
  opt.height = 2, opt.width = 2, opt.pad = 0;
  write_image_grid_png(file("o.png"), black.data(), 1, 4, opt);
  write_image_grid_png(file("o.png"), white.data(), 1, 4, opt);
  EXPECT_EQ(read_gray_png(file("o.png")).pixels, (std::vector<uint8_t>{255, 255, 255, 255}));
  // A refused write leaves the old file as it was.
  expect_error([&] { write_image_grid_png(file("o.png"), black.data(), 1, 3, opt); }, {"3 features"});
  EXPECT_EQ(read_gray_png(file("o.png")).pixels, (std::vector<uint8_t>{255, 255, 255, 255}));
  EXPECT_EQ(m_tmp.entries(), std::vector<std::string>{"o.png"});
}

}  // namespace
}  // namespace ae

namespace ae {
namespace {
// The drawing scale: [0, 1] for image data, else the values' own range (a constant gets a unit
// span); small images zoomed 2×.
TEST(PngGridOptions, PickTheScaleAndZoom) {
  const std::vector<float> unit = {0.0f, 0.25f, 1.0f, 0.5f};
  ImageGridOptions g = image_grid_options(unit.data(), 1, {2, 2});
  EXPECT_EQ(g.lo, 0.0f);
  EXPECT_EQ(g.hi, 1.0f);
  EXPECT_EQ(g.zoom, 2);
  EXPECT_EQ(g.height, 2);
  const std::vector<float> wide = {-2.0f, 0.5f, 3.0f, 1.0f};
  g = image_grid_options(wide.data(), 2, {1, 2});
  EXPECT_EQ(g.lo, -2.0f);
  EXPECT_EQ(g.hi, 3.0f);
  const std::vector<float> flat(4, 5.0f);
  g = image_grid_options(flat.data(), 1, {2, 2});
  EXPECT_EQ(g.lo, 5.0f);
  EXPECT_EQ(g.hi, 6.0f);
  const std::vector<float> big(64 * 64, 0.5f);
  EXPECT_EQ(image_grid_options(big.data(), 1, {64, 64}).zoom, 1);
}
}  // namespace
}  // namespace ae
