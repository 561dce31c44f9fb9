// Image grids as PNG. Three steps, each finished before the next starts: check every size (so a
// refused grid allocates and creates nothing), draw the grid into an 8-bit grayscale buffer, encode
// it with libpng's simplified API to memory and hand the bytes to AtomicFile. libpng reports errors
// through longjmp; the simplified API catches them inside libpng's own C frames and returns false
// with image.message, so no longjmp ever crosses a C++ frame here.
#include "host/data/png.h"

#include <png.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/common/error.h"
#include "runtime/atomic_file.h"

namespace ae {

namespace {

constexpr int64_t k_max = k_png_max_side;

// ⌈√n⌉ for n ≥ 1, exactly (a double square root alone can be one off for large n). The start is
// at most ⌊√INT64_MAX⌋, so (c − 1)² cannot overflow; c² < n is tested by division, since c² can.
int64_t ceil_sqrt(int64_t n) {
  auto c = std::max<int64_t>(1, static_cast<int64_t>(std::sqrt(static_cast<double>(n))));
  while (c > 1 && (c - 1) * (c - 1) >= n) --c;
  while (n / c > c || (n / c == c && n % c != 0)) ++c;
  return c;
}

// One grid side in pixels: n cells of `cell` pixels with `pad` before each and after the last.
// Exact for n ≤ k_max (then at most ~4.4e12); beyond, the grid is too large anyway and the
// answer saturates.
int64_t grid_side(int64_t n, int64_t cell, int64_t pad) {
  if (n > k_max) return std::numeric_limits<int64_t>::max();
  return n * (cell + pad) + pad;
}

std::string side_text(int64_t side) {
  return side == std::numeric_limits<int64_t>::max() ? "more than " + std::to_string(k_max) : std::to_string(side);
}

// [lo, hi] → 0..255, rounded to nearest, clamped; NaN → 0. In double, so lo and hi land exactly
// on 0 and 255 and clamping happens before any conversion to an integer (inf stays defined).
uint8_t to_byte(float v, double lo, double scale) {
  if (std::isnan(v)) return 0;
  const double t = (static_cast<double>(v) - lo) * scale;  // 0 at lo, 255 at hi
  if (!(t > 0)) return 0;
  if (t >= 255) return 255;
  return static_cast<uint8_t>(t + 0.5);
}

// libpng's 8-bit grayscale encoding of `pixels` ([height, width], row-major).
std::vector<uint8_t> encode_gray_png(const std::string& path, const std::vector<uint8_t>& pixels, int64_t width,
                                     int64_t height) {
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(width);
  image.height = static_cast<png_uint_32>(height);
  image.format = PNG_FORMAT_GRAY;
  // PNG_IMAGE_PNG_SIZE_MAX bounds the output (stored deflate blocks and all chunks), so one pass
  // normally suffices; should libpng still ask for more, it says how much and the second pass fits.
  std::vector<uint8_t> out(PNG_IMAGE_PNG_SIZE_MAX(image));
  for (int pass = 0; pass < 2; ++pass) {
    png_alloc_size_t bytes = out.size();
    const int ok = png_image_write_to_memory(&image, out.data(), &bytes, /*convert_to_8_bit=*/0, pixels.data(),
                                             /*row_stride=*/0, /*colormap=*/nullptr);
    const bool failed = !ok || (image.warning_or_error & PNG_IMAGE_ERROR) != 0;
    if (!failed) {
      out.resize(bytes);
      png_image_free(&image);
      return out;
    }
    png_image_free(&image);  // the simplified API frees on error already; this is a no-op then
    if (bytes > out.size() && pass == 0) {
      out.resize(bytes);
      image.opaque = nullptr;
      image.warning_or_error = 0;
      continue;
    }
    AE_FAIL("cannot write '", path, "': libpng could not encode the ", width, "×", height,
            " image: ", image.message[0] ? image.message : "no reason given");
  }
  AE_FAIL("cannot write '", path, "': libpng asked for a larger buffer twice");
}

// Every size the grid depends on, checked before anything is allocated; returns the grid's
// {cols, pixel width, pixel height}.
struct GridLayout {
  int64_t cols, width, height;
};

GridLayout check_grid(const std::string& path, const float* x, int64_t rows, int64_t row_width,
                      const ImageGridOptions& opt) {
  if (rows < 1) AE_FAIL("cannot draw '", path, "': no images to draw (", rows, " rows)");
  if (opt.height < 1 || opt.width < 1 || opt.height > k_max || opt.width > k_max)
    AE_FAIL("cannot draw '", path, "': image shape ", opt.height, "×", opt.width, " is out of range (each side 1..",
            k_max, ")");
  if (opt.height * opt.width != row_width)
    AE_FAIL("cannot draw '", path, "': a row of ", row_width, " features is not a ", opt.height, "×", opt.width,
            " image (", opt.height * opt.width, " pixels): give --image-shape HxW with H·W = ", row_width);
  AE_CHECK(x != nullptr, "write_image_grid_png('", path, "'): x is null for ", rows, " rows");
  if (opt.zoom < 1 || opt.zoom > k_max)
    AE_FAIL("cannot draw '", path, "': zoom ", opt.zoom, " is out of range (1..", k_max, ")");
  if (opt.pad < 0 || opt.pad > k_max)
    AE_FAIL("cannot draw '", path, "': pad ", opt.pad, " is out of range (0..", k_max, ")");
  if (opt.cols < 0) AE_FAIL("cannot draw '", path, "': cols ", opt.cols, " is negative (0: about square)");
  if (!std::isfinite(opt.lo) || !std::isfinite(opt.hi) || !(opt.lo < opt.hi))
    AE_FAIL("cannot draw '", path, "': the value range [", opt.lo, ", ", opt.hi,
            "] is empty or not finite; it needs lo < hi (lo maps to black, hi to white)");

  GridLayout g{};
  g.cols = opt.cols > 0 ? std::min(opt.cols, rows) : ceil_sqrt(rows);
  const int64_t grid_rows = (rows - 1) / g.cols + 1;
  g.width = grid_side(g.cols, opt.width * opt.zoom, opt.pad);
  g.height = grid_side(grid_rows, opt.height * opt.zoom, opt.pad);
  if (g.width > k_max || g.height > k_max)
    AE_FAIL("cannot draw '", path, "': ", rows, " images of ", opt.height, "×", opt.width, " in ", g.cols,
            " columns (zoom ", opt.zoom, ", pad ", opt.pad, ") make a ", side_text(g.width), "×", side_text(g.height),
            " pixel grid; PNGs over ", k_max, " pixels a side are refused: draw fewer images");
  return g;
}

}  // namespace

void check_image_grid(const std::string& path, int64_t rows, int64_t row_width, const ImageGridOptions& opt) {
  static const float dummy = 0;  // check_grid refuses a null x; nothing is read here
  check_grid(path, &dummy, rows, row_width, opt);
}

void write_image_grid_png(const std::string& path, const float* x, int64_t rows, int64_t row_width,
                          const ImageGridOptions& opt) {
  const GridLayout g = check_grid(path, x, rows, row_width, opt);
  const int64_t cell_w = opt.width * opt.zoom, cell_h = opt.height * opt.zoom;
  const double lo = opt.lo, scale = 255.0 / (static_cast<double>(opt.hi) - lo);

  std::vector<uint8_t> pixels(static_cast<size_t>(g.width * g.height), opt.background);  // [g.height, g.width]
  for (int64_t k = 0; k < rows; ++k) {
    const float* img = x + k * row_width;  // [opt.height, opt.width]
    const int64_t y0 = opt.pad + (k / g.cols) * (cell_h + opt.pad);
    const int64_t x0 = opt.pad + (k % g.cols) * (cell_w + opt.pad);
    for (int64_t i = 0; i < opt.height; ++i) {
      // Draw one zoomed pixel row, then copy it to the zoom − 1 rows below.
      uint8_t* first = pixels.data() + (y0 + i * opt.zoom) * g.width + x0;
      for (int64_t j = 0; j < opt.width; ++j)
        std::memset(first + j * opt.zoom, to_byte(img[i * opt.width + j], lo, scale), static_cast<size_t>(opt.zoom));
      for (int64_t z = 1; z < opt.zoom; ++z) std::memcpy(first + z * g.width, first, static_cast<size_t>(cell_w));
    }
  }

  const std::vector<uint8_t> png = encode_gray_png(path, pixels, g.width, g.height);
  AtomicFile file(path, png.size());
  file.write(png.data(), png.size());
  file.commit();
}

std::optional<std::pair<int64_t, int64_t>> parse_image_shape(std::string_view text, std::string_view flag) {
  if (text.empty()) return std::nullopt;
  const auto bad = [&](const char* why) { AE_FAIL(flag, " ", quote_bytes(text, 40, '\''), ": ", why); };
  // The separator: 'x', 'X' or '×' (U+00D7, two bytes in UTF-8), whichever comes first.
  size_t sep = text.find_first_of("xX");
  size_t sep_len = 1;
  if (const size_t times = text.find("×"); times != std::string_view::npos && times < sep) {
    sep = times;
    sep_len = std::strlen("×");
  }
  if (sep == std::string_view::npos) bad("expected HxW, e.g. 28x28");
  const auto side = [&](std::string_view s) -> int64_t {
    int64_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || s[0] == '+' || s[0] == '-' || ec == std::errc::invalid_argument || end != s.data() + s.size())
      bad("expected HxW, e.g. 28x28");
    if (ec == std::errc::result_out_of_range || v < 1 || v > k_max)
      AE_FAIL(flag, " ", quote_bytes(text, 40, '\''), ": each side must be 1..", k_max, " pixels");
    return v;
  };
  const int64_t h = side(text.substr(0, sep));
  const int64_t w = side(text.substr(sep + sep_len));
  return std::pair{h, w};
}

std::optional<std::pair<int64_t, int64_t>> default_image_shape(int64_t row_width) {
  if (row_width < 1) return std::nullopt;
  const int64_t n = ceil_sqrt(row_width);
  if (n > k_max || n * n != row_width) return std::nullopt;  // n > k_max first: n² may overflow
  return std::pair{n, n};
}

std::pair<int64_t, int64_t> image_shape_for(int64_t row_width, std::string_view flag_text, std::string_view flag) {
  if (const auto shape = parse_image_shape(flag_text, flag)) {
    const auto [h, w] = *shape;
    if (h * w != row_width)
      AE_FAIL(flag, " ", h, "x", w, " holds ", h * w, " pixels, but a row has ", row_width,
              " features: give H and W with H·W = ", row_width);
    return *shape;
  }
  if (const auto shape = default_image_shape(row_width)) return *shape;
  AE_FAIL(row_width, " features are not a square image: give ", flag, " HxW with H·W = ", row_width);
}

ImageGridOptions image_grid_options(const float* x, int64_t n, std::pair<int64_t, int64_t> shape) {
  ImageGridOptions g;
  g.height = shape.first, g.width = shape.second;
  g.zoom = shape.first * shape.second <= 32 * 32 ? 2 : 1;
  const int64_t count = std::max<int64_t>(n, 0) * shape.first * shape.second;
  if (count == 0) return g;
  const auto [lo, hi] = std::minmax_element(x, x + count);
  if (*lo >= 0 && *hi <= 1) return g;  // [0, 1]
  g.lo = *lo;
  g.hi = *hi > *lo ? *hi : *lo + 1.0f;
  return g;
}

}  // namespace ae
