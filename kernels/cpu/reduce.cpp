// The cpu reduce_sum primitive. rows: columns in blocks of COL_BLOCK, one block per thread, each
// walking the rows in order (contiguous reads, a fixed order for every sum); cols: one row per
// iteration, summed left to right; all: the row sums of cols, then added in row order on one
// thread; channels: the same row sums, then each channel's rows g, G + g, 2G + g, ... added in
// that order on one thread. Sums are double, the result alpha·sum is rounded to T once.
#include "kernels/cpu/reduce.h"

#include <algorithm>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cpu/simd.h"

namespace ae::cpu {

namespace {

constexpr int64_t COL_BLOCK = 32;

template <typename T>
void store(T* y, double sum, T alpha, bool accumulate) {
  const T v = static_cast<T>(static_cast<double>(alpha) * sum);
  *y = accumulate ? *y + v : v;
}

template <typename T>
double row_sum(const T* row, int64_t N) {  // row [N]
  double s = 0;
  for (int64_t j = 0; j < N; ++j) s += static_cast<double>(row[j]);
  return s;
}

}  // namespace

template <typename T>
void reduce_sum(ReduceAxis axis, T alpha, const T* x, T* y, int64_t M, int64_t N, bool accumulate, int64_t G) {
  AE_CHECK(M >= 0 && N >= 0, "reduce_sum(", reduce_axis_name(axis), "): negative dimension (M=", M, ", N=", N, ")");
  AE_CHECK(static_cast<int>(axis) < REDUCE_AXIS_COUNT, "reduce_sum: unknown axis ", static_cast<int>(axis));
  AE_CHECK(G >= 1 && M % G == 0, "reduce_sum: ", M, " rows are not whole groups of ", G);
  const int64_t outputs = reduce_outputs(axis, M, N, G);
  if (outputs == 0) return;
  AE_CHECK(y != nullptr, "reduce_sum(", reduce_axis_name(axis), "): y is null");
  AE_CHECK(M * N == 0 || x != nullptr, "reduce_sum(", reduce_axis_name(axis), "): x is null");
  const bool big = M * N >= PARALLEL_MIN_ELEMENTS;

  switch (axis) {
    case ReduceAxis::rows: {
      const int64_t blocks = (N + COL_BLOCK - 1) / COL_BLOCK;
#pragma omp parallel for schedule(static) if (big)
      for (int64_t blk = 0; blk < blocks; ++blk) {
        const int64_t j0 = blk * COL_BLOCK, w = std::min(N, j0 + COL_BLOCK) - j0;
        double acc[COL_BLOCK] = {};
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < w; ++j) acc[j] += static_cast<double>(x[i * N + j0 + j]);
        for (int64_t j = 0; j < w; ++j) store(y + j0 + j, acc[j], alpha, accumulate);
      }
      return;
    }
    case ReduceAxis::cols: {
#pragma omp parallel for schedule(static) if (big)
      for (int64_t i = 0; i < M; ++i) store(y + i, row_sum(x + i * N, N), alpha, accumulate);
      return;
    }
    case ReduceAxis::all:
    case ReduceAxis::channels: {  // channels: y[g] = Σ_r (Σ_n x[r·G + g, n]), r in order
      std::vector<double> rows(static_cast<size_t>(M));
#pragma omp parallel for schedule(static) if (big)
      for (int64_t i = 0; i < M; ++i) rows[i] = row_sum(x + i * N, N);
      const int64_t groups = axis == ReduceAxis::all ? 1 : G;  // all: one channel of every row
      for (int64_t g = 0; g < groups; ++g) {
        double s = 0;
        for (int64_t i = g; i < M; i += groups) s += rows[i];
        store(y + g, s, alpha, accumulate);
      }
      return;
    }
    case ReduceAxis::groups:  // y[r, n] = Σ_g x[r·G + g, n], g in order
    case ReduceAxis::samples: {  // y[g, n] = Σ_r x[r·G + g, n], r in order
      const int64_t samples = M / G, out_rows = axis == ReduceAxis::groups ? samples : G;
      const int64_t inner = axis == ReduceAxis::groups ? G : samples;
#pragma omp parallel for schedule(static) if (big)
      for (int64_t o = 0; o < out_rows; ++o)
        for (int64_t n = 0; n < N; ++n) {
          double s = 0;
          for (int64_t t = 0; t < inner; ++t) {
            const int64_t row = axis == ReduceAxis::groups ? o * G + t : t * G + o;
            s += static_cast<double>(x[row * N + n]);
          }
          store(y + o * N + n, s, alpha, accumulate);
        }
      return;
    }
  }
}

template void reduce_sum<float>(ReduceAxis, float, const float*, float*, int64_t, int64_t, bool, int64_t);
template void reduce_sum<double>(ReduceAxis, double, const double*, double*, int64_t, int64_t, bool, int64_t);

}  // namespace ae::cpu
