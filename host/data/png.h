// PNG output of ae's pictures: rows of a matrix (samples of a VAE, reconstructions beside their
// originals, report figures) drawn as a grid of grayscale images. The encoding is libpng's (its
// simplified API, to memory); the file appears through AtomicFile, complete or not at all.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace ae {

// The largest PNG side ae writes, in pixels: beyond it a grid is a mistake (a whole data set drawn
// at once, a typo in --zoom), and 16384² bytes is already a 256 MiB picture.
inline constexpr int64_t k_png_max_side = 16384;

struct ImageGridOptions {
  int64_t height = 28, width = 28;  // one image: each row of x is height·width pixels, row-major
  int64_t cols = 0;                 // images per grid row; 0: about square (⌈√rows⌉); capped at rows
  int64_t pad = 2;                  // background pixels between images and around the edge (not zoomed)
  int64_t zoom = 1;                 // each image pixel drawn as zoom × zoom (nearest neighbour)
  float lo = 0, hi = 1;             // values map linearly from [lo, hi] to 0..255, clamped; NaN → 0
  uint8_t background = 255;         // the padding and the empty cells after the last image
};

// Options to draw `n` rows of x as {height, width} images: values on [0, 1] when they all lie in it
// (image data, what bce trains on), else on their own [min, max]; small images (≤ 32×32) zoomed 2×.
ImageGridOptions image_grid_options(const float* x,  // [n, height·width]
                                    int64_t n, std::pair<int64_t, int64_t> shape);

// Throws what write_image_grid_png would for `rows` images of `row_width` pixels drawn with `opt`
// (shape, sizes, grid side) without drawing: callers check before any work or other output.
void check_image_grid(const std::string& path, int64_t rows, int64_t row_width, const ImageGridOptions& opt);

// Writes the rows of x as one 8-bit grayscale PNG at `path`, images filling the grid row by row.
// Throws ae::Error (one line, naming the problem) on: rows < 1, a row that is not height × width
// pixels, sizes out of range (a grid side over k_png_max_side pixels), lo ≥ hi or not finite, a
// libpng failure, an I/O failure (missing directory, full disk). Nothing is created before the
// picture is encoded, and a failed write never leaves a file or a temporary behind.
void write_image_grid_png(const std::string& path,
                          const float* x,  // [rows, row_width], row-major
                          int64_t rows, int64_t row_width, const ImageGridOptions& opt);

// The text of an image-shape flag, "HxW" (also "HXW", "H×W"), as {height, width}, each in
// 1..k_png_max_side. Empty text (the flag not given) is nullopt. Anything else throws one line
// naming the flag: "--image-shape '28by28': expected HxW, e.g. 28x28".
std::optional<std::pair<int64_t, int64_t>> parse_image_shape(std::string_view text,
                                                             std::string_view flag = "--image-shape");

// The shape a row of `row_width` pixels is drawn as when none is given: n × n for a perfect square
// n² (784 → 28 × 28, MNIST and Fashion-MNIST), otherwise nullopt (no guess at a rectangle).
std::optional<std::pair<int64_t, int64_t>> default_image_shape(int64_t row_width);

// The shape to draw rows of `row_width` pixels with: the flag's (checked against the width) or the
// default. Throws one line naming the flag when the flag's shape does not hold row_width pixels or
// there is no default: "785 features are not a square image: give --image-shape HxW with H·W = 785".
std::pair<int64_t, int64_t> image_shape_for(int64_t row_width, std::string_view flag_text,
                                            std::string_view flag = "--image-shape");

}  // namespace ae
