// The cpu reference loss kernel: one pass per row computes the element terms (summed in double),
// the element gradients scaled by 1/(M·N) (mean reduction) or 1/M (sum) — times the output
// activation's derivative when the caller asks for the gradient w.r.t. the pre-activation — and
// σ(z) for the from-logits form.
//
// A row is walked in chunks of LANES elements copied to locals first, so the loop vectorizes even
// when grad overwrites pred in place (no aliasing for the compiler to guard against), and its
// double sum keeps LANES partial sums instead of one serial chain of adds. For float the row
// function is compiled for AVX-512, AVX2 and the baseline ISA, chosen from cpuid at load time.
//
// The bf16 variant is the same code: every function below is templated on the compute type T and
// the storage types of pred/grad/probs (P) and target (Q), loading and storing through
// bf16_elem.h, so a bf16 pred is widened as it is copied into the chunk's locals and each grad
// element rounded once as it is stored; the sums and their order are the float kernel's.
#include "kernels/cpu/loss.h"

#include <omp.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cpu/bf16_elem.h"
#include "kernels/cpu/simd.h"


namespace ae::cpu {

namespace {

constexpr int64_t LANES = 16;

enum class Form { mse, bce, bce_logits };

// Loss form F, output activation A (compile-time, so the switches fold away), one row of N; T the
// arithmetic, P and Q the storage of pred (and grad, probs) and of target.
template <Form F, Act A, typename T, typename P, typename Q>
double loss_row(const P* p, const Q* t, int64_t N, T inv_count, P* g, P* pr) {
  double lanes[LANES] = {};
  // Elements [j0, j0 + w) of the row, w ≤ LANES; with w == LANES the loops have a fixed trip count.
  auto chunk = [&](int64_t j0, int64_t w) {
    T pv[LANES], tv[LANES], gv[LANES], sv[LANES];
    for (int64_t l = 0; l < w; ++l) {
      pv[l] = load_value(p[j0 + l]);
      tv[l] = load_value(t[j0 + l]);
    }
    for (int64_t l = 0; l < w; ++l) {
      T term, eg;
      if constexpr (F == Form::mse) {
        term = mse_term(pv[l], tv[l]);
        eg = mse_grad(pv[l], tv[l]);
      } else if constexpr (F == Form::bce) {
        term = bce_term(pv[l], tv[l]);
        eg = bce_grad(pv[l], tv[l]);
      } else {
        term = bce_logits_term(pv[l], tv[l]);
        eg = bce_logits_grad(pv[l], tv[l]);
        sv[l] = sigmoid(pv[l]);
      }
      lanes[l] += static_cast<double>(term);
      gv[l] = eg * inv_count;
      if constexpr (A != Act::linear) gv[l] = gv[l] * act_derivative_from_y(A, pv[l]);
    }
    if (g)
      for (int64_t l = 0; l < w; ++l) store_value(g[j0 + l], gv[l]);
    if (F == Form::bce_logits && pr)
      for (int64_t l = 0; l < w; ++l) store_value(pr[j0 + l], sv[l]);
  };
  int64_t j0 = 0;
  for (; j0 + LANES <= N; j0 += LANES) chunk(j0, LANES);
  if (j0 < N) chunk(j0, N - j0);
  // Fixed pairwise tree over the lanes.
  for (int64_t width = LANES / 2; width >= 1; width /= 2)
    for (int64_t l = 0; l < width; ++l) lanes[l] += lanes[l + width];
  return lanes[0];
}

// Rows [r0, r1): row sums into row_sum, gradients, probabilities. The per-sample errors follow
// from row_sum in the caller's serial pass.
template <Form F, Act A, typename T, typename P, typename Q>
void loss_rows(const P* pred, const Q* target, int64_t r0, int64_t r1, int64_t N, T inv_count, P* grad, P* probs,
               double* row_sum) {
  for (int64_t i = r0; i < r1; ++i)
    row_sum[i] = loss_row<F, A>(pred + i * N, target + i * N, N, inv_count, grad ? grad + i * N : nullptr,
                                probs ? probs + i * N : nullptr);
}

template <Form F, typename T, typename P, typename Q>
void loss_rows_act(Act act, const P* pred, const Q* target, int64_t r0, int64_t r1, int64_t N, T inv_count, P* grad,
                   P* probs, double* row_sum) {
  switch (act) {
#define AE_LOSS_ACT_CASE(a) \
  case Act::a: return loss_rows<F, Act::a>(pred, target, r0, r1, N, inv_count, grad, probs, row_sum);
    AE_LOSS_ACT_CASE(linear)
    AE_LOSS_ACT_CASE(relu)
    AE_LOSS_ACT_CASE(leaky_relu)
    AE_LOSS_ACT_CASE(sigmoid)
    AE_LOSS_ACT_CASE(tanh)
    AE_LOSS_ACT_CASE(selu)
    AE_LOSS_ACT_CASE(elu)
    AE_LOSS_ACT_CASE(softplus)
#undef AE_LOSS_ACT_CASE
    case Act::gelu: break;  // refused by the caller: its derivative needs z
  }
}

template <typename T, typename P, typename Q>
void loss_rows_dispatch(Form form, Act act, const P* pred, const Q* target, int64_t r0, int64_t r1, int64_t N,
                        T inv_count, P* grad, P* probs, double* row_sum) {
  switch (form) {
    case Form::mse:
      return loss_rows_act<Form::mse, T>(act, pred, target, r0, r1, N, inv_count, grad, probs, row_sum);
    case Form::bce:
      return loss_rows_act<Form::bce, T>(act, pred, target, r0, r1, N, inv_count, grad, probs, row_sum);
    case Form::bce_logits:
      return loss_rows<Form::bce_logits, Act::linear, T>(pred, target, r0, r1, N, inv_count, grad, probs, row_sum);
  }
}

// The per-ISA clones, one per storage combination; double (the fp64 checks) is not cloned.
AE_CPU_SIMD_CLONES void loss_rows_simd(Form form, Act act, const float* pred, const float* target, int64_t r0,
                                       int64_t r1, int64_t N, float inv_count, float* grad, float* probs,
                                       double* row_sum) {
  loss_rows_dispatch<float>(form, act, pred, target, r0, r1, N, inv_count, grad, probs, row_sum);
}
AE_CPU_SIMD_CLONES void loss_rows_simd(Form form, Act act, const bfloat16* pred, const float* target, int64_t r0,
                                       int64_t r1, int64_t N, float inv_count, bfloat16* grad, bfloat16* probs,
                                       double* row_sum) {
  loss_rows_dispatch<float>(form, act, pred, target, r0, r1, N, inv_count, grad, probs, row_sum);
}
AE_CPU_SIMD_CLONES void loss_rows_simd(Form form, Act act, const bfloat16* pred, const bfloat16* target, int64_t r0,
                                       int64_t r1, int64_t N, float inv_count, bfloat16* grad, bfloat16* probs,
                                       double* row_sum) {
  loss_rows_dispatch<float>(form, act, pred, target, r0, r1, N, inv_count, grad, probs, row_sum);
}
void loss_rows_simd(Form form, Act act, const double* pred, const double* target, int64_t r0, int64_t r1, int64_t N,
                    double inv_count, double* grad, double* probs, double* row_sum) {
  loss_rows_dispatch<double>(form, act, pred, target, r0, r1, N, inv_count, grad, probs, row_sum);
}

// The kernel for compute type T and storage P (pred, grad, probs), Q (target), S (per_sample).
template <typename T, typename P, typename Q, typename S>
double loss_impl(const char* op, Loss loss, bool from_logits, const P* pred, const Q* target, int64_t M, int64_t N,
                 P* grad, S* per_sample, P* probs, Act out_act, LossReduction reduction) {
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
  if (M == 0 || N == 0) {
    if (per_sample)
      for (int64_t i = 0; i < M; ++i) per_sample[i] = S(0);
    return 0.0;  // PyTorch returns NaN for the mean of nothing; an empty batch is never trained on
  }
  AE_CHECK(pred != nullptr && target != nullptr, op, ": pred or target is null");

  // mean: the loss is Σ/(M·N) and each row's error its sum over N; sum: Σ/M and the sum itself.
  // 1/count scales every gradient element, as PyTorch's mean reduction multiplies it.
  const bool mean = reduction == LossReduction::mean;
  const double count = mean ? static_cast<double>(M) * static_cast<double>(N) : static_cast<double>(M);
  const double row_div = mean ? static_cast<double>(N) : 1.0;  // s / 1.0 is s exactly
  const T inv_count = T(1.0 / count);
  const Form form = loss == Loss::mse ? Form::mse : from_logits ? Form::bce_logits : Form::bce;
  std::vector<double> row_sum(static_cast<size_t>(M));

  auto rows = [&](int64_t r0, int64_t r1) {
    loss_rows_simd(form, out_act, pred, target, r0, r1, N, inv_count, grad, probs, row_sum.data());
  };
  // Rows split evenly between threads; each row is computed by one thread alone.
  if (M * N < PARALLEL_MIN_ELEMENTS || M < 2 || omp_in_parallel() || omp_get_max_threads() < 2) {
    rows(0, M);
  } else {
#pragma omp parallel
    {
      const int64_t t = omp_get_thread_num(), n = omp_get_num_threads();
      rows(M * t / n, M * (t + 1) / n);
    }
  }

  double total = 0.0;
  for (int64_t i = 0; i < M; ++i) {
    total += row_sum[i];
    if (per_sample) per_sample[i] = static_cast<S>(row_sum[i] / row_div);
  }
  return total / count;
}

}  // namespace

template <typename T>
double loss_forward_backward(Loss loss, bool from_logits, const T* pred, const T* target, int64_t M, int64_t N, T* grad,
                             T* per_sample, T* probs, Act out_act, LossReduction reduction) {
  return loss_impl<T>("loss_forward_backward", loss, from_logits, pred, target, M, N, grad, per_sample, probs, out_act,
                      reduction);
}

double loss_forward_backward_bf16(Loss loss, bool from_logits, const bfloat16* pred, const void* target,
                                  DType target_type, int64_t M, int64_t N, bfloat16* grad, float* per_sample,
                                  Act out_act, LossReduction reduction) {
  const char* op = "loss_forward_backward_bf16";
  AE_CHECK(target_type == DType::f32 || target_type == DType::bf16, op, ": the target must be f32 or bf16, not ",
           dtype_name(target_type));
  if (target_type == DType::f32)
    return loss_impl<float>(op, loss, from_logits, pred, static_cast<const float*>(target), M, N, grad, per_sample,
                            static_cast<bfloat16*>(nullptr), out_act, reduction);
  return loss_impl<float>(op, loss, from_logits, pred, static_cast<const bfloat16*>(target), M, N, grad, per_sample,
                          static_cast<bfloat16*>(nullptr), out_act, reduction);
}

template double loss_forward_backward<float>(Loss, bool, const float*, const float*, int64_t, int64_t, float*,
                                             float*, float*, Act, LossReduction);
template double loss_forward_backward<double>(Loss, bool, const double*, const double*, int64_t, int64_t, double*,
                                              double*, double*, Act, LossReduction);

}  // namespace ae::cpu
