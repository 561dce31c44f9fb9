// The cpu reference optimizer: one multi-tensor step over every parameter, with torch.optim's
// update rules and defaults, step for step (SGD with momentum/dampening/nesterov/weight decay,
// Adam with bias correction and L2 decay, AdamW with decoupled decay, RMSprop plain/momentum/
// centered). Parameters, gradients and state are fp32 (the master weights under mixed precision).
// Elementwise, so bitwise deterministic for any thread count.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "kernels/common/dtype.h"

namespace ae::cpu {

enum class OptKind : uint8_t { sgd, adam, adamw, rmsprop };
inline constexpr int OPT_KIND_COUNT = 4;

// Fields unused by a kind are ignored (momentum/dampening/nesterov: sgd, rmsprop's momentum;
// beta1/beta2: adam, adamw; alpha/centered: rmsprop; eps: adam, adamw, rmsprop).
// Hyperparameters are double, as Python floats are in torch.optim: the bias corrections are
// computed in double and the elementwise updates use the values rounded to float, as PyTorch
// does for fp32 parameters.
struct OptConfig {
  OptKind kind = OptKind::adam;
  double lr = 1e-3;
  double momentum = 0, dampening = 0;
  bool nesterov = false;
  double weight_decay = 0;  // L2 added to the gradient; for adamw the decoupled decay rate
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double alpha = 0.99;  // rmsprop smoothing constant
  bool centered = false;
};

// torch.optim's defaults: sgd lr 1e-3 (PyTorch ≥ 2.2; earlier versions had no default lr),
// adam/adamw lr 1e-3 betas (0.9, 0.999) eps 1e-8, adamw weight_decay 0.01, rmsprop alpha 0.99
// eps 1e-8 — but rmsprop lr 1e-3, not torch's 0.01 (optimizer.cpp says why).
OptConfig default_opt_config(OptKind kind);

// Throws ae::Error naming the field when the config is outside what torch.optim accepts (plus
// lr > 0): "optimizer: nesterov needs momentum > 0 and dampening = 0 (got momentum 0)".
void validate_opt_config(const OptConfig& cfg);

// fp32 state slots per parameter element: sgd 0 (or 1 with momentum), adam/adamw 2 (exp_avg,
// exp_avg_sq), rmsprop 1 (square_avg) + 1 with momentum (momentum_buffer) + 1 when centered
// (grad_avg). Slot s of a parameter of n elements occupies state[s·n .. s·n + n), in that order.
int opt_state_slots(const OptConfig& cfg);

// One parameter tensor of the step. state must hold opt_state_slots(cfg)·n floats, zeroed by
// the caller before step 1 (and saved with the model to resume).
struct ParamSlot {
  float* param;       // [n] updated in place
  const float* grad;  // [n]
  float* state;       // [opt_state_slots × n], or nullptr when opt_state_slots is 0
  int64_t n;
  // Mixed precision: the compute copy of the parameter, written in the same pass with each
  // updated value rounded to bf16 (nearest even), or nullptr when the plan keeps none.
  bfloat16* copy = nullptr;  // [n]
};

// Applies one step to every slot. step is 1-based: it drives Adam's bias correction, and at
// step 1 SGD's momentum buffer is set to the gradient (torch.optim's first step), not blended.
void optimizer_step(const OptConfig& cfg, int64_t step, const ParamSlot* slots, size_t count);

// Names for the CLI and messages: "sgd", "adam", "adamw", "rmsprop".
const char* opt_name(OptKind kind);
std::optional<OptKind> parse_opt_name(std::string_view name);
std::string opt_names_list();  // "sgd, adam, adamw, rmsprop"

// A user's optimizer choice: PyTorch's defaults for `name`, overridden by each value that is not
// NaN; validated. `where` names the setting in messages (e.g. "--optimizer").
OptConfig make_opt_config(const std::string& name, double lr, double momentum, double weight_decay, bool nesterov,
                          const std::string& where);

}  // namespace ae::cpu
