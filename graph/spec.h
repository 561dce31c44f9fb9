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
#include "kernels/common/noise.h"
#include "kernels/common/prior.h"
#include "kernels/common/sparsity.h"

namespace ae {

// What a layer computes. dense is a fully connected layer (nn.Linear); the others are the
// convolutional autoencoder's layers (issue 12) on NCHW tensors, with PyTorch's semantics so that a
// model file loads into the matching nn.Sequential: conv2d (nn.Conv2d), conv_transpose2d
// (nn.ConvTranspose2d), max_pool2d / avg_pool2d (ceil_mode false, avg counting padding as PyTorch's
// default does), upsample (nn.Upsample, nearest, integer scale) and reshape (nn.Unflatten to
// [C,H,W]). Square kernels, strides and paddings only: one int each.
enum class LayerKind : uint8_t { dense, conv2d, conv_transpose2d, max_pool2d, avg_pool2d, upsample, reshape };
const char* layer_kind_name(LayerKind k);  // the JSON "type": "dense", "conv2d", ...

struct LayerSpec {
  // Output features of this layer. Given for a dense layer; for the other kinds the parser derives
  // it from the shapes (the output's C·H·W), so that the code layer (the narrowest), widths in
  // messages and layer_in() read alike for every kind.
  int64_t units = 0;
  Act act = Act::linear;   // activation applied to its output (dense and convolutions only)
  // A variational code layer (compact letter 'v', JSON "variational": true): two linear heads on the
  // layer before, the mean μ and the log-variance log σ² of `units` each, and the code
  // z = μ + σ⊙ε (kernels/common/vae.h). Only the code layer (the narrowest, or the one marked)
  // may be variational: 'v' does not choose the code.
  bool variational = false;
  LayerKind kind = LayerKind::dense;
  int64_t channels = 0;        // conv2d, conv_transpose2d: output channels
  int64_t kernel = 0;          // convolutions and pools: the (square) kernel size
  int64_t stride = 1;          // convolutions; pools default to their kernel
  int64_t padding = 0;         // convolutions and pools: zero padding on each side
  int64_t dilation = 1;        // convolutions
  int64_t output_padding = 0;  // conv_transpose2d: added to one side of the output (< stride or < dilation)
  bool bias = true;            // convolutions: a per-channel bias [out]; dense layers always have one
  int64_t scale = 0;           // upsample: the integer factor on H and W (nearest)
  std::vector<int64_t> shape;  // reshape: the target [C, H, W]
  bool is_conv() const { return kind == LayerKind::conv2d || kind == LayerKind::conv_transpose2d; }
  bool operator==(const LayerSpec&) const = default;
};

// A tensor's shape per sample: {C, H, W} for an image, {N} for a flat vector of N features.
using Shape = std::vector<int64_t>;
int64_t shape_elements(const Shape& s);
std::string shape_string(const Shape& s);  // "[16,28,28]", "[784]"

// An activity penalty on the code layer's output h, a named objective term of its own, weighted
// by `lambda` (λ for l1, β for kl):
//   l1: λ · (1/B) Σ_b Σ_j |h_bj|  (tf.keras 2's activity_regularizer=l1)
//   kl: β · Σ_j KL(ρ ‖ ρ̂_j), ρ̂_j = (1/B) Σ_b h_bj; the code must be sigmoid so that ρ̂_j ∈ (0, 1)
struct Sparsity {
  enum class Kind : uint8_t { none, l1, kl } kind = Kind::none;
  double lambda = 0;  // the term's weight: λ (l1) or β (kl)
  double rho = 0;     // kl: the target mean activation, in (0, 1)
  bool operator==(const Sparsity&) const = default;
  SparsityParams params() const {  // what the kernels take (the weight is the term's)
    return {kind == Kind::l1 ? SparsityKind::l1 : kind == Kind::kl ? SparsityKind::kl : SparsityKind::none, float(rho)};
  }
};

// Input corruption of a denoising autoencoder (kernels/common/noise.h): the network is trained
// to reconstruct the clean input from a corrupted one, with fresh noise every step. Validation,
// scores and every forward-only use see clean inputs.
//   mask:P          each element set to 0 with probability P ∈ [0, 1)
//   gaussian:S      x + S·ε, ε standard normal, S ≥ 0; gaussian:S:clip clips to the data range
//   saltpepper:P    with probability P an element becomes the data minimum or maximum (half each)
// The data range is the training data's [min, max] (after normalisation), recorded in the spec at
// the first training so that a resumed run corrupts alike; a spec may also give it.
struct Noise {
  NoiseKind kind = NoiseKind::none;
  double p = 0;            // mask, saltpepper: the probability; gaussian: σ
  bool clip = false;       // gaussian: clip to [lo, hi]
  bool has_range = false;  // lo and hi are known
  double lo = 0, hi = 0;   // the data range (saltpepper's values, gaussian's clip)
  bool needs_range() const { return kind == NoiseKind::saltpepper || (kind == NoiseKind::gaussian && clip); }
  NoiseParams params() const;  // for kernels; a range not yet known reads as [0, 1]
  std::string to_string() const;  // the --noise form: "mask:0.3", "gaussian:0.1:clip:0:1", "none"
  bool operator==(const Noise&) const = default;
};
const char* noise_kind_name(NoiseKind k);

// An adversarial autoencoder (Makhzani et al., 2016): a discriminator D on the code learns to tell
// prior samples from encoder codes, and the encoder learns to fool it, which pushes the codes'
// distribution toward the prior. D is dense layers on the code (the DSPEC "16-64r-64r-1": its input
// width, then widths with activation letters), the last one a single linear logit. Training then
// has three phases (graph/build.h training_phases): reconstruction, discriminator, generator.
struct Adversarial {
  int64_t input = 0;                  // D's input width: the code width
  std::vector<LayerSpec> layers;      // D's dense layers; empty: not adversarial
  PriorKind prior = PriorKind::gaussian;
  bool enabled() const { return !layers.empty(); }
  std::string to_string() const;      // the DSPEC: "16-64r-64r-1"
  bool operator==(const Adversarial& o) const;
};
const char* prior_kind_name(PriorKind k);

struct Spec {
  int64_t input = 0;                 // input features (= reconstruction width; C·H·W for an image)
  // An image input's {C, H, W} (compact "1x28x28", JSON "input": [1, 28, 28]); empty: a flat input
  // of `input` features, as every dense spec has. A dense layer after a [C,H,W] tensor reads its
  // C·H·W features (the nn.Flatten that PyTorch needs there is implicit).
  Shape input_shape;
  std::vector<LayerSpec> encoder;    // input → code; the code is the last encoder layer's output
  std::vector<LayerSpec> decoder;    // code → reconstruction
  bool tied = false;                 // each decoder layer uses its mirror encoder layer's weight, transposed
  Sparsity sparsity;                 // a penalty on the code, or none
  Noise noise;                       // input corruption while training (denoising), or none
  // The contractive penalty's weight λ: λ · (1/B) Σ_b ‖∂h(x_b)/∂x_b‖²_F, h the code; 0 = none.
  // Exact for any encoder depth and activation (graph/build.cpp says how).
  double contractive = 0;
  // A VAE's KL term: its weight β (≥ 0; 1 is the ELBO) and a linear warm-up of β from 0 over
  // kl_warmup steps (0: none). Only with a variational code layer.
  double beta = 1;
  int64_t kl_warmup = 0;
  Adversarial adversarial;           // a discriminator on the code and its prior, or none

  int64_t code_units() const { return encoder.back().units; }
  // A VAE: the code layer is variational. Training adds the KL term, weighted by β (TrainOptions).
  bool variational() const { return encoder.back().variational; }
  int64_t num_layers() const { return int64_t(encoder.size() + decoder.size()); }
  // Layer l of the whole chain (encoder first), and its input width.
  const LayerSpec& layer(int64_t l) const;
  int64_t layer_in(int64_t l) const;

  std::string to_compact() const;       // "784-256r-32-256r-784s"; the code layer is marked by '|' only if ambiguous
  nlohmann::json to_json() const;       // {"input":..,"encoder":[..],"decoder":[..]}
  int64_t parameter_count() const;  // from the parameter registry (graph/param_registry.h)

  // Whether any layer is not dense, or the input is an image: such a spec is convolutional.
  bool convolutional() const;
  // The input's shape: input_shape, or {input} when flat.
  Shape input_tensor_shape() const { return input_shape.empty() ? Shape{input} : input_shape; }
  // Each layer's output shape (index l as layer(l)), by PyTorch's formulas:
  //   conv2d            H' = ⌊(H + 2p − d(k−1) − 1) / s⌋ + 1
  //   conv_transpose2d  H' = (H − 1)s − 2p + d(k−1) + op + 1
  //   pools             H' = ⌊(H + 2p − k) / s⌋ + 1  (ceil_mode false)
  //   upsample          H' = H·scale;  reshape: its shape;  dense: {units}
  // The spec must be valid (validate_spec).
  std::vector<Shape> layer_shapes() const;
  bool operator==(const Spec&) const = default;
};

// Parses `text`: JSON when it starts with '{', a file's contents when it names an existing
// .json file, else the compact form. `origin` (a file name or "--spec") prefixes error messages.
Spec parse_spec(std::string_view text, std::string_view origin = "--spec");
Spec parse_spec_json(const nlohmann::json& j, std::string_view origin);
Spec parse_spec_compact(std::string_view text, std::string_view origin);

// Checks widths (≥ 1), layer counts, and that the decoder's output width equals the input.
void validate_spec(const Spec& spec, std::string_view origin);
// validate_spec's part for the adversarial discriminator: it fits the code, ends in one linear
// logit, and the spec has nothing it cannot be combined with; a prior needs a discriminator.
void validate_adversarial(const Spec& spec, std::string_view origin);

// "l1:LAMBDA", "kl:RHO:BETA" (the --sparsity flag; the compact form's ":l1=LAMBDA", ":kl=RHO,BETA")
// or "none" → Sparsity; errors name `origin`.
Sparsity parse_sparsity(std::string_view text, std::string_view origin);

// "mask:P", "gaussian:S", "gaussian:S:clip", "saltpepper:P" (the --noise flag), each optionally
// followed by ":LO:HI" (the data range, where the kind uses one), or "none" → Noise; errors name
// `origin`. The compact spec's ":mask=P", ":gaussian=S,clip", ... are the same with commas.
Noise parse_noise(std::string_view text, std::string_view origin);

// The contractive weight λ of "--contractive LAMBDA" (a finite number ≥ 0); errors name `origin`.
double parse_contractive(std::string_view text, std::string_view origin);

// A VAE's β of "--beta B" (a finite number ≥ 0) and warm-up steps of "--kl-warmup N" (an integer
// ≥ 0); errors name `origin`.
double parse_beta(std::string_view text, std::string_view origin);
int64_t parse_kl_warmup(std::string_view text, std::string_view origin);

// The discriminator of "--adversarial DSPEC" ("16-64r-64r-1": its input width, then dense layers
// with the encoder's activation letters) and the prior of "--prior gaussian|uniform"; errors name
// `origin`. Whether D fits the code is validate_spec's to say.
Adversarial parse_discriminator(std::string_view text, std::string_view origin);
PriorKind parse_prior(std::string_view text, std::string_view origin);

// PyTorch nn.Sequential state_dict names of the layer's weight/bias. encoder and decoder are each
// one nn.Sequential, and every module takes an index:
//   - the layer's own module: nn.Linear, nn.Conv2d, nn.ConvTranspose2d, nn.MaxPool2d,
//     nn.AvgPool2d, nn.Upsample(scale_factor=S, mode="nearest") or nn.Unflatten(1, (C, H, W));
//   - its activation, when not linear (nn.ReLU, nn.Sigmoid, ...), right after it;
//   - an nn.Flatten() right before a dense layer whose input is a [C,H,W] tensor (in the decoder,
//     that includes an image-shaped code).
// So "784-256r-32" gives encoder.0 and encoder.2, and "1x28x28-C16k3s2p1r-M2-64-..." gives the
// conv encoder.0 (ReLU 1, MaxPool 2, Flatten 3) and the dense encoder.4. Layers without parameters
// (pools, upsample, reshape) have a prefix too: the module they are.
std::string layer_param_prefix(const Spec& spec, int64_t l);
// The same for discriminator layer l: "16-64r-64r-1" gives discriminator.0, .2 and .4.
std::string discriminator_param_prefix(const Spec& spec, int64_t l);

}  // namespace ae
