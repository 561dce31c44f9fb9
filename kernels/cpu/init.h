// Seeded initialisation of a dense layer, chosen by the layer's activation (PyTorch's init
// functions and gains). Draws come from Philox keyed by (seed, step = layer index, purpose = init,
// index = element index), so the weights are identical on every backend and thread count, and a
// layer's weights do not depend on the other layers' shapes.
#pragma once

#include <cstdint>

#include "kernels/common/activation.h"

namespace ae::cpu {

// The scheme per activation:
//   relu        He / Kaiming normal, fan_in, gain √2            std = √2/√fan_in
//   leaky_relu  He / Kaiming normal, fan_in, gain √(2/(1+0.01²))
//   selu        LeCun normal                                     std = 1/√fan_in
//   tanh        Xavier/Glorot uniform, gain 5/3 (torch.nn.init.calculate_gain("tanh"))
//   linear, sigmoid, softplus, gelu, elu
//               Xavier/Glorot uniform, gain 1                    U(−a, a), a = gain·√(6/(fan_in+fan_out))
// Biases are zero. fan_in = in, fan_out = out.
void init_dense(Act act, int64_t out, int64_t in, uint64_t seed, uint32_t layer,
                float* w,   // [out, in]
                float* b);  // [out], or nullptr for a layer without bias

// The same schemes for any weight tensor of `size` elements with PyTorch's fan_in and fan_out
// (torch.nn.init._calculate_fan_in_and_fan_out: dims[1]·k_h·k_w and dims[0]·k_h·k_w for a 4-D
// weight, a ConvTranspose2d's [in, out, k, k] included). init_dense(out, in) is init_weight(out·in, in, out).
void init_weight(Act act, int64_t size, int64_t fan_in, int64_t fan_out, uint64_t seed, uint32_t layer,
                 float* w);  // [size]

// A short description of the scheme init_dense uses for act, for `ae info`:
// e.g. "he_normal(fan_in, gain=sqrt(2))", "xavier_uniform(gain=5/3)".
const char* init_scheme_name(Act act);

}  // namespace ae::cpu
