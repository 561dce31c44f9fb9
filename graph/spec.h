// The user's description of an autoencoder: an input width, encoder layers, decoder layers.
// Parsed from a compact string ("784-256r-32-256r-784s") or JSON; validated with messages that
// name the field and the valid choices. The graph builder turns a Spec into an IR Graph.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "kernels/common/activation.h"

namespace ae {

struct LayerSpec {
  int64_t units = 0;       // output features of this dense layer
  Act act = Act::linear;   // activation applied to its output
};

// An activity penalty on the code layer's output h, a named objective term of its own, weighted
// by `lambda` (λ for l1, β for kl):
//   l1: λ · (1/B) Σ_b Σ_j |h_bj|  (tf.keras 2's activity_regularizer=l1)
//   kl: β · Σ_j KL(ρ ‖ ρ̂_j), ρ̂_j = (1/B) Σ_b h_bj; the code must be sigmoid so that ρ̂_j ∈ (0, 1)
struct Sparsity {
  enum class Kind : uint8_t { none, l1, kl } kind = Kind::none;
  double lambda = 0;  // the term's weight: λ (l1) or β (kl)
  double rho = 0;     // kl: the target mean activation, in (0, 1)
  bool operator==(const Sparsity&) const = default;
};

struct Spec {
  int64_t input = 0;                 // input features (= reconstruction width)
  std::vector<LayerSpec> encoder;    // input → code; the code is the last encoder layer's output
  std::vector<LayerSpec> decoder;    // code → reconstruction
  bool tied = false;                 // each decoder layer uses its mirror encoder layer's weight, transposed
  Sparsity sparsity;                 // a penalty on the code, or none

  int64_t code_units() const { return encoder.back().units; }
  int64_t num_layers() const { return int64_t(encoder.size() + decoder.size()); }
  // Layer l of the whole chain (encoder first), and its input width.
  const LayerSpec& layer(int64_t l) const;
  int64_t layer_in(int64_t l) const;

  std::string to_compact() const;       // "784-256r-32-256r-784s"; the code layer is marked by '|' only if ambiguous
  nlohmann::json to_json() const;       // {"input":..,"encoder":[..],"decoder":[..]}
  int64_t parameter_count() const;  // from the parameter registry (graph/param_registry.h)
};

// Parses `text`: JSON when it starts with '{', a file's contents when it names an existing
// .json file, else the compact form. `origin` (a file name or "--spec") prefixes error messages.
Spec parse_spec(std::string_view text, std::string_view origin = "--spec");
Spec parse_spec_json(const nlohmann::json& j, std::string_view origin);
Spec parse_spec_compact(std::string_view text, std::string_view origin);

// Checks widths (≥ 1), layer counts, and that the decoder's output width equals the input.
void validate_spec(const Spec& spec, std::string_view origin);

// "l1:LAMBDA", "kl:RHO:BETA" (the --sparsity flag; the compact form's ":l1=LAMBDA", ":kl=RHO,BETA")
// or "none" → Sparsity; errors name `origin`.
Sparsity parse_sparsity(std::string_view text, std::string_view origin);

// PyTorch nn.Sequential state_dict names of the layer's weight/bias: activation modules take
// an index too, so "784-256r-32" gives encoder.0 and encoder.2.
std::string layer_param_prefix(const Spec& spec, int64_t l);

}  // namespace ae
