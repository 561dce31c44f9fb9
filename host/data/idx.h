// IDX reader (the MNIST / Fashion-MNIST format), plain or gzip-compressed: the data ae trains on by
// default. Gzip is recognised by its magic bytes, never by the file name. Every malformed input
// (wrong magic, unknown type, zero or absurd dimensions, truncated or trailing data, a corrupt gzip
// stream) is refused with one ae::Error that names the file and the problem.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "host/data/matrix.h"

namespace ae {

// Reads an IDX file of any rank >= 1 as [dim0, product of the other dims] (rank 1 gives cols = 1).
// Rank 3 [n, H, W] records image_shape {1, H, W}, rank 4 [n, C, H, W] records {C, H, W}.
// u8 is scaled to [0, 1] (v / 255); other types (i8, i16, i32, f32, f64) are converted to float as
// they are. max_rows >= 0 reads only the first min(max_rows, dim0) rows; the whole file is still
// validated (a gzip stream is decompressed to its end, without keeping the rest).
Matrix read_idx_matrix(const std::string& path, int64_t max_rows = -1);

// Reads a rank-1 integer IDX file (u8, i8, i16 or i32), e.g. MNIST labels. max_rows as above.
std::vector<int32_t> read_idx_labels(const std::string& path, int64_t max_rows = -1);

}  // namespace ae
