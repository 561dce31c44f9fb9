// Dense-layer initialisation from Philox draws: normal schemes use Box–Muller per element,
// uniform schemes map the element's [0, 1) draw linearly onto [−a, a).
#include "kernels/cpu/init.h"

#include <cmath>

#include "kernels/common/error.h"
#include "kernels/common/philox.h"

namespace ae::cpu {

namespace {

enum class Scheme { he_normal, lecun_normal, xavier_uniform };

Scheme scheme_for(Act act) {
  switch (act) {
    case Act::relu:
    case Act::leaky_relu: return Scheme::he_normal;
    case Act::selu: return Scheme::lecun_normal;
    default: return Scheme::xavier_uniform;
  }
}

// torch.nn.init.calculate_gain for the activations that have one; 1 otherwise.
double gain_for(Act act) {
  switch (act) {
    case Act::relu: return std::sqrt(2.0);
    case Act::leaky_relu: return std::sqrt(2.0 / (1.0 + LEAKY_RELU_SLOPE * LEAKY_RELU_SLOPE));
    case Act::tanh: return 5.0 / 3.0;
    default: return 1.0;
  }
}

}  // namespace

void init_dense(Act act, int64_t out, int64_t in, uint64_t seed, uint32_t layer, float* w, float* b) {
  AE_CHECK(out > 0 && in > 0, "init_dense: layer ", layer, " has shape [", out, ", ", in, "]; both must be > 0");
  init_weight(act, out * in, in, out, seed, layer, w);
  if (b)
    for (int64_t j = 0; j < out; ++j) b[j] = 0.0f;
}

void init_weight(Act act, int64_t n, int64_t in, int64_t out, uint64_t seed, uint32_t layer, float* w) {
  AE_CHECK(n > 0 && out > 0 && in > 0, "init_weight: layer ", layer, " has ", n, " elements, fan_in ", in, ", fan_out ", out,
           "; all must be > 0");
  AE_CHECK(w != nullptr, "init_weight: layer ", layer, " weight is null");
  const Scheme s = scheme_for(act);
  if (s == Scheme::xavier_uniform) {
    const double a = gain_for(act) * std::sqrt(6.0 / static_cast<double>(in + out));
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      const double u = philox_uniform(seed, layer, PhiloxPurpose::init, static_cast<uint64_t>(i));
      w[i] = static_cast<float>(a * (2.0 * u - 1.0));
    }
  } else {
    const double std_dev = (s == Scheme::lecun_normal ? 1.0 : gain_for(act)) / std::sqrt(static_cast<double>(in));
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i)
      w[i] = static_cast<float>(std_dev * philox_normal_f64(seed, layer, PhiloxPurpose::init, static_cast<uint64_t>(i)));
  }
}

const char* init_scheme_name(Act act) {
  switch (act) {
    case Act::relu: return "he_normal(fan_in, gain=sqrt(2))";
    case Act::leaky_relu: return "he_normal(fan_in, gain=sqrt(2/(1+0.01^2)))";
    case Act::selu: return "lecun_normal(std=1/sqrt(fan_in))";
    case Act::tanh: return "xavier_uniform(gain=5/3)";
    default: return "xavier_uniform(gain=1)";
  }
}

}  // namespace ae::cpu
