// The cpu reference loss kernel: one pass per row computes the element terms (summed in double),
// the element gradients scaled by 1/(M·N), and σ(z) for the from-logits form.
#include "kernels/cpu/loss.h"

#include <vector>

#include "kernels/common/error.h"

namespace ae::cpu {

template <typename T>
double loss_forward_backward(Loss loss, bool from_logits, const T* pred, const T* target, int64_t M,
                             int64_t N, T* grad, T* per_sample, T* probs) {
  AE_CHECK(M >= 0 && N >= 0, "loss_forward_backward: negative dimension (M=", M, ", N=", N, ")");
  AE_CHECK(loss == Loss::mse || loss == Loss::bce, "loss_forward_backward: unknown loss ",
           static_cast<int>(loss));
  AE_CHECK(!from_logits || loss == Loss::bce, "loss_forward_backward: from_logits is only defined for bce, not ",
           loss_name(loss));
  if (M == 0 || N == 0) {
    if (per_sample)
      for (int64_t i = 0; i < M; ++i) per_sample[i] = T(0);
    return 0.0;  // PyTorch returns NaN for the mean of nothing; an empty batch is never trained on
  }
  AE_CHECK(pred != nullptr && target != nullptr, "loss_forward_backward: pred or target is null");

  // 1/(M·N) as the scale of every gradient element, as PyTorch's mean reduction multiplies it.
  const T inv_count = T(1.0 / (static_cast<double>(M) * static_cast<double>(N)));
  std::vector<double> row_sum(static_cast<size_t>(M));

#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < M; ++i) {
    const T* p = pred + i * N;
    const T* t = target + i * N;
    T* g = grad ? grad + i * N : nullptr;
    T* pr = (from_logits && probs) ? probs + i * N : nullptr;
    double s = 0.0;
    for (int64_t j = 0; j < N; ++j) {
      const T v = p[j], tj = t[j];
      T term, eg;
      if (loss == Loss::mse) {
        term = mse_term(v, tj);
        eg = mse_grad(v, tj);
      } else if (from_logits) {
        term = bce_logits_term(v, tj);
        eg = bce_logits_grad(v, tj);
        if (pr) pr[j] = sigmoid(v);
      } else {
        term = bce_term(v, tj);
        eg = bce_grad(v, tj);
      }
      s += static_cast<double>(term);
      if (g) g[j] = eg * inv_count;
    }
    row_sum[i] = s;
    if (per_sample) per_sample[i] = static_cast<T>(s / static_cast<double>(N));
  }

  double total = 0.0;
  for (int64_t i = 0; i < M; ++i) total += row_sum[i];
  return total / (static_cast<double>(M) * static_cast<double>(N));
}

template double loss_forward_backward<float>(Loss, bool, const float*, const float*, int64_t, int64_t,
                                             float*, float*, float*);
template double loss_forward_backward<double>(Loss, bool, const double*, const double*, int64_t, int64_t,
                                              double*, double*, double*);

}  // namespace ae::cpu
