// Loss forward + gradient in one pass, then a deterministic reduction: mean (Σ/(M·N), per-sample
// = row mean) or sum (Σ/M, per-sample = row sum), LossReduction in kernels/common/loss.h.
//
// loss_rows_kernel: 16 threads per row (16 rows per 256-thread block). Thread l of a row walks the
// elements j ≡ l (mod 16) in order, computing each term (summed in double), the gradient
// eg/count · out_act′(pred) (count = M·N or M) and σ(z) for the logits form; the 16 partial sums then meet in the
// fixed tree lane[l] += lane[l + w], w = 8, 4, 2, 1 (warp shuffles inside the 16-lane group). That
// is exactly the cpu reference's order (16 interleaved lanes, then that tree), so row sums match
// it bit for bit under the same libm. Neighbouring lanes read neighbouring elements: coalesced.
// loss_mean_kernel: one thread adds the M row sums in row order (the reference's order; M is a
// batch, so this is microseconds) and writes Σ/count. No atomics anywhere.
#include "kernels/common/error.h"
#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/loss.cuh"

namespace ae::cuda {

namespace {

constexpr int LANES = 16;  // threads per row, as the reference's 16 lanes
constexpr int ROWS_PER_BLOCK = 16;
constexpr int THREADS = LANES * ROWS_PER_BLOCK;

enum class Form : uint8_t { mse, bce, bce_logits };

template <typename T>
struct LossArgs {
  Form form;
  Act out_act;
  const T* pred;    // [M, N]
  const T* target;  // [M, N]
  int64_t M, N;
  T inv_count;       // 1/count rounded to T, as the reference scales each gradient element
  double row_div;    // N (mean) or 1 (sum): per-sample = row sum / row_div, as the reference
  T* grad;           // [M, N] or nullptr
  T* per_sample;     // [M] or nullptr
  T* probs;          // [M, N] or nullptr
  double* row_sums;  // [M]
};

template <typename T>
__global__ void __launch_bounds__(THREADS) loss_rows_kernel(const LossArgs<T> a) {
  const int lane = threadIdx.x % LANES;
  const int64_t row = int64_t(blockIdx.x) * ROWS_PER_BLOCK + threadIdx.x / LANES;
  double sum = 0.0;
  if (row < a.M) {  // no early return: every lane takes part in the shuffles below
    const int64_t base = row * a.N;
    for (int64_t j = lane; j < a.N; j += LANES) {
      const T p = a.pred[base + j], t = a.target[base + j];
      T term, eg;
      if (a.form == Form::mse) {
        term = mse_term(p, t);
        eg = mse_grad(p, t);
      } else if (a.form == Form::bce) {
        term = bce_term(p, t);
        eg = bce_grad(p, t);
      } else {
        term = bce_logits_term(p, t);
        eg = bce_logits_grad(p, t);
        if (a.probs) a.probs[base + j] = sigmoid(p);
      }
      sum += static_cast<double>(term);
      if (a.grad) {
        T g = eg * a.inv_count;
        if (a.out_act != Act::linear) g = g * act_derivative_from_y(a.out_act, p);
        a.grad[base + j] = g;  // after every read of pred[base + j]: grad may alias pred
      }
    }
  }
  // The reference's tree over its 16 lanes; width 16 keeps each row's group separate.
  for (int w = LANES / 2; w >= 1; w /= 2) sum += __shfl_down_sync(0xffffffffu, sum, w, LANES);
  if (lane == 0 && row < a.M) {
    a.row_sums[row] = sum;
    if (a.per_sample) a.per_sample[row] = static_cast<T>(sum / a.row_div);
  }
}

// One thread: the row sums in row order, then Σ/count (count = M·N for mean, M for sum).
template <typename T>
__global__ void loss_mean_kernel(const double* row_sums,  // [M]
                                 int64_t M, double count,
                                 T* loss_out) {  // [1]
  if (threadIdx.x != 0) return;
  double total = 0.0;
  for (int64_t i = 0; i < M; ++i) total += row_sums[i];
  *loss_out = static_cast<T>(total / count);
}

}  // namespace

template <typename T>
void loss_forward_backward(Loss loss, bool from_logits, const T* pred, const T* target, int64_t M, int64_t N, T* grad,
                           T* per_sample, T* probs, Act out_act, T* loss_out, double* row_sums, cudaStream_t stream,
                           LossReduction reduction) {
  AE_CHECK(M >= 0 && N >= 0, "cuda loss_forward_backward: negative dimension (M=", M, ", N=", N, ")");
  AE_CHECK(loss == Loss::mse || loss == Loss::bce, "cuda loss_forward_backward: unknown loss ", static_cast<int>(loss));
  AE_CHECK(!from_logits || loss == Loss::bce, "cuda loss_forward_backward: from_logits is only defined for bce, not ",
           loss_name(loss));
  AE_CHECK(static_cast<int>(out_act) < ACT_COUNT, "cuda loss_forward_backward: unknown output activation ",
           static_cast<int>(out_act));
  AE_CHECK(!act_derivative_needs_z(out_act), "cuda loss_forward_backward: output activation ", act_name(out_act),
           " needs its pre-activation for the derivative; apply it in the layer's backward instead");
  AE_CHECK(!from_logits || out_act == Act::linear,
           "cuda loss_forward_backward: from_logits already gives the gradient w.r.t. the logits; out_act must be "
           "linear");
  AE_CHECK(reduction == LossReduction::mean || reduction == LossReduction::sum,
           "cuda loss_forward_backward: unknown reduction ", static_cast<int>(reduction), "; expected mean or sum");
  AE_CHECK(loss_out != nullptr, "cuda loss_forward_backward: loss_out is null");
  if (M == 0 || N == 0) {  // the reference's convention: loss 0, per-sample 0
    fill<T>(loss_out, T(0), 1, stream);
    if (per_sample) fill<T>(per_sample, T(0), M, stream);
    return;
  }
  AE_CHECK(pred != nullptr && target != nullptr && row_sums != nullptr,
           "cuda loss_forward_backward: pred, target or row_sums is null");
  const int64_t blocks = (M + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK;
  AE_CHECK(blocks <= 0x7fffffff, "cuda loss_forward_backward: M=", M, " exceeds the grid limit");
  LossArgs<T> a{};
  a.form = loss == Loss::mse ? Form::mse : from_logits ? Form::bce_logits : Form::bce;
  a.out_act = out_act;
  a.pred = pred, a.target = target, a.M = M, a.N = N;
  // The reference's divisors, computed the same way so the results stay bit-equal.
  const bool mean = reduction == LossReduction::mean;
  const double count = mean ? static_cast<double>(M) * static_cast<double>(N) : static_cast<double>(M);
  a.inv_count = T(1.0 / count);
  a.row_div = mean ? static_cast<double>(N) : 1.0;
  a.grad = grad, a.per_sample = per_sample, a.probs = from_logits ? probs : nullptr, a.row_sums = row_sums;
  launch("loss_rows", loss_rows_kernel<T>, dim3(static_cast<unsigned>(blocks)), dim3(THREADS), 0, stream, a);
  launch("loss_mean", loss_mean_kernel<T>, dim3(1), dim3(32), 0, stream, static_cast<const double*>(row_sums), M, count,
         loss_out);
}

template void loss_forward_backward<float>(Loss, bool, const float*, const float*, int64_t, int64_t, float*, float*,
                                           float*, Act, float*, double*, cudaStream_t, LossReduction);

}  // namespace ae::cuda
