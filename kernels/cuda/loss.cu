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
//
// Both kernels are templated on the storage types: P of pred, grad and probs, Q of the target, S
// of per-sample errors and the loss. The arithmetic is fp32 in every variant: a stored value is
// widened as it is loaded and a gradient rounded once as it is stored (lowp_value.cuh), so the
// mixed-precision launcher (P = bf16 or fp16, S = fp32) runs the fp32 kernel's very operations on
// the widened values, and the fp32 one (P = Q = S = float) is the same code with no-op conversions.
// Only the mixed-precision launcher passes a loss scale, multiplied into each fp32 gradient last.
#include <type_traits>

#include "kernels/common/error.h"
#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/loss.cuh"
#include "kernels/cuda/lowp_value.cuh"

namespace ae::cuda {

namespace {

constexpr int LANES = 16;  // threads per row, as the reference's 16 lanes
constexpr int ROWS_PER_BLOCK = 16;
constexpr int THREADS = LANES * ROWS_PER_BLOCK;

enum class Form : uint8_t { mse, bce, bce_logits };

template <typename P, typename Q, typename S>
struct LossArgs {
  Form form;
  Act out_act;
  const P* pred;    // [M, N]
  const Q* target;  // [M, N]
  int64_t M, N;
  float inv_count;          // 1/count rounded to fp32, as the reference scales each gradient element
  double row_div;           // N (mean) or 1 (sum): per-sample = row sum / row_div, as the reference
  P* grad;                  // [M, N] or nullptr
  S* per_sample;            // [M] or nullptr
  P* probs;                 // [M, N] or nullptr
  double* row_sums;         // [M]
  const float* grad_scale;  // [1] loss scale multiplied into each gradient element, or nullptr (none)
};

template <typename P, typename Q, typename S>
__global__ void __launch_bounds__(THREADS) loss_rows_kernel(const LossArgs<P, Q, S> a) {
  const int lane = threadIdx.x % LANES;
  const int64_t row = int64_t(blockIdx.x) * ROWS_PER_BLOCK + threadIdx.x / LANES;
  // Read on the device at run time, so a captured graph replays each step's scale.
  const float scale = a.grad && a.grad_scale ? *a.grad_scale : 1.0f;
  double sum = 0.0;
  if (row < a.M) {  // no early return: every lane takes part in the shuffles below
    const int64_t base = row * a.N;
    for (int64_t j = lane; j < a.N; j += LANES) {
      const float p = load_as_float(a.pred[base + j]), t = load_as_float(a.target[base + j]);
      float term, eg;
      if (a.form == Form::mse) {
        term = mse_term(p, t);
        eg = mse_grad(p, t);
      } else if (a.form == Form::bce) {
        term = bce_term(p, t);
        eg = bce_grad(p, t);
      } else {
        term = bce_logits_term(p, t);
        eg = bce_logits_grad(p, t);
        if (a.probs) a.probs[base + j] = store_as<P>(sigmoid(p));
      }
      sum += static_cast<double>(term);
      if (a.grad) {
        float g = eg * a.inv_count;
        if (a.out_act != Act::linear) g = g * act_derivative_from_y(a.out_act, p);
        if (a.grad_scale) g = g * scale;    // a power of two: exact unless it overflows
        a.grad[base + j] = store_as<P>(g);  // after every read of pred[base + j]: grad may alias pred
      }
    }
  }
  // The reference's tree over its 16 lanes; width 16 keeps each row's group separate.
  for (int w = LANES / 2; w >= 1; w /= 2) sum += __shfl_down_sync(0xffffffffu, sum, w, LANES);
  if (lane == 0 && row < a.M) {
    a.row_sums[row] = sum;
    if (a.per_sample) a.per_sample[row] = static_cast<S>(sum / a.row_div);
  }
}

// One thread: the row sums in row order, then Σ/count (count = M·N for mean, M for sum).
template <typename S>
__global__ void loss_mean_kernel(const double* row_sums,  // [M]
                                 int64_t M, double count,
                                 S* loss_out) {  // [1]
  if (threadIdx.x != 0) return;
  double total = 0.0;
  for (int64_t i = 0; i < M; ++i) total += row_sums[i];
  *loss_out = static_cast<S>(total / count);
}

// Both launchers: the checks (messages named by op), then the two kernels.
template <typename P, typename Q, typename S>
void loss_launch(const char* op, Loss loss, bool from_logits, const P* pred, const Q* target, int64_t M, int64_t N,
                 P* grad, S* per_sample, P* probs, Act out_act, S* loss_out, double* row_sums, cudaStream_t stream,
                 LossReduction reduction, const float* grad_scale) {
  AE_CHECK(M >= 0 && N >= 0, op, ": negative dimension (M=", M, ", N=", N, ")");
  AE_CHECK(loss == Loss::mse || loss == Loss::bce, op, ": unknown loss ", static_cast<int>(loss));
  AE_CHECK(!from_logits || loss == Loss::bce, op, ": from_logits is only defined for bce, not ", loss_name(loss));
  AE_CHECK(static_cast<int>(out_act) < ACT_COUNT, op, ": unknown output activation ", static_cast<int>(out_act));
  AE_CHECK(!act_derivative_needs_z(out_act), op, ": output activation ", act_name(out_act),
           " needs its pre-activation for the derivative; apply it in the layer's backward instead");
  AE_CHECK(!from_logits || out_act == Act::linear, op,
           ": from_logits already gives the gradient w.r.t. the logits; out_act must be linear");
  AE_CHECK(reduction == LossReduction::mean || reduction == LossReduction::sum, op, ": unknown reduction ",
           static_cast<int>(reduction), "; expected mean or sum");
  AE_CHECK(loss_out != nullptr, op, ": loss_out is null");
  if (M == 0 || N == 0) {  // the reference's convention: loss 0, per-sample 0
    fill<S>(loss_out, S(0), 1, stream);
    if (per_sample) fill<S>(per_sample, S(0), M, stream);
    return;
  }
  AE_CHECK(pred != nullptr && target != nullptr && row_sums != nullptr, op, ": pred, target or row_sums is null");
  const int64_t blocks = (M + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK;
  AE_CHECK(blocks <= 0x7fffffff, op, ": M=", M, " exceeds the grid limit");
  LossArgs<P, Q, S> a{};
  a.form = loss == Loss::mse ? Form::mse : from_logits ? Form::bce_logits : Form::bce;
  a.out_act = out_act;
  a.pred = pred, a.target = target, a.M = M, a.N = N;
  // The reference's divisors, computed the same way so the results stay bit-equal.
  const bool mean = reduction == LossReduction::mean;
  const double count = mean ? static_cast<double>(M) * static_cast<double>(N) : static_cast<double>(M);
  a.inv_count = float(1.0 / count);
  a.row_div = mean ? static_cast<double>(N) : 1.0;
  a.grad = grad, a.per_sample = per_sample, a.probs = from_logits ? probs : nullptr, a.row_sums = row_sums;
  a.grad_scale = grad_scale;
  launch("loss_rows", loss_rows_kernel<P, Q, S>, dim3(static_cast<unsigned>(blocks)), dim3(THREADS), 0, stream, a);
  launch("loss_mean", loss_mean_kernel<S>, dim3(1), dim3(32), 0, stream, static_cast<const double*>(row_sums), M, count,
         loss_out);
}

}  // namespace

template <typename T>
void loss_forward_backward(Loss loss, bool from_logits, const T* pred, const T* target, int64_t M, int64_t N, T* grad,
                           T* per_sample, T* probs, Act out_act, T* loss_out, double* row_sums, cudaStream_t stream,
                           LossReduction reduction) {
  loss_launch<T, T, T>("cuda loss_forward_backward", loss, from_logits, pred, target, M, N, grad, per_sample, probs,
                       out_act, loss_out, row_sums, stream, reduction, nullptr);
}

template <typename IN, typename TGT>
void loss_forward_backward_lowp(Loss loss, bool from_logits, const IN* pred, const TGT* target, int64_t M, int64_t N,
                                IN* grad, float* per_sample, Act out_act, float* loss_out, double* row_sums,
                                cudaStream_t stream, LossReduction reduction, const float* grad_scale) {
  static_assert(std::is_same_v<IN, __nv_bfloat16> || std::is_same_v<IN, __half>, "IN is bf16 or fp16 storage");
  static_assert(std::is_same_v<TGT, float> || std::is_same_v<TGT, IN>, "the target is fp32 or IN");
  loss_launch<IN, TGT, float>("cuda loss_forward_backward_lowp", loss, from_logits, pred, target, M, N, grad,
                              per_sample, static_cast<IN*>(nullptr), out_act, loss_out, row_sums, stream, reduction,
                              grad_scale);
}

template void loss_forward_backward<float>(Loss, bool, const float*, const float*, int64_t, int64_t, float*, float*,
                                           float*, Act, float*, double*, cudaStream_t, LossReduction);

#define AE_LOSS_LOWP(IN, TGT)                                                                                         \
  template void loss_forward_backward_lowp<IN, TGT>(Loss, bool, const IN*, const TGT*, int64_t, int64_t, IN*, float*, \
                                                    Act, float*, double*, cudaStream_t, LossReduction, const float*);
AE_LOSS_LOWP(__nv_bfloat16, float)
AE_LOSS_LOWP(__nv_bfloat16, __nv_bfloat16)
AE_LOSS_LOWP(__half, float)
AE_LOSS_LOWP(__half, __half)
#undef AE_LOSS_LOWP

}  // namespace ae::cuda
