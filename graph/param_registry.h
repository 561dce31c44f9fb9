// The one parameter registry: every parameter a Spec implies — its PyTorch state_dict name, shape,
// initialisation, optimizer group and which layer uses it how — derived once, here. The graph
// builder, the ParamStore, Model::create, the model file, `ae info` and the parameter count all
// read it; nothing else derives a parameter name or shape.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "graph/spec.h"

namespace ae {

enum class ParamKind : uint8_t { weight, bias };

struct ParamDef {
  std::string name;            // PyTorch state_dict name: encoder.0.weight
  std::vector<int64_t> dims;   // PyTorch shape: weight [out, in], bias [out]
  ParamKind kind = ParamKind::weight;
  int layer = -1;              // the spec layer that owns (and initialises) it
  Act init_act = Act::linear;  // initialised by this activation's scheme (kernels/cpu/init.h)
  // Optimizer groups, the first one first: each (parameter, group) has its own optimizer state, and
  // a training phase updates the parameters of the groups it trains (graph/build.h). An adversarial
  // autoencoder's encoder is in group 0 (reconstruction, with the decoder) and 2 (generator); its
  // discriminator is group 1.
  std::vector<int> groups = {0};
  // Non-empty: the model file stores the rows of this parameter as that many equal blocks under
  // these names (a VAE's one [2N, K] head GEMM is mu.weight and logvar.weight in the file, as a
  // PyTorch module with two nn.Linear heads names them). Inside ae it is one tensor.
  std::vector<std::string> file_names;
  int64_t size() const;
  // The [rows, cols] view kernels use: [out, in·k_h·k_w] for a 4-D weight, [1, n] for a bias.
  int64_t rows() const { return dims.size() >= 2 ? dims[0] : 1; }
  int64_t cols() const { return size() / rows(); }
  // PyTorch's fans (torch.nn.init): dims[1] and dims[0], times the kernel's k_h·k_w for a 4-D
  // convolution weight (a ConvTranspose2d's [in, out, k, k] too, as PyTorch computes them).
  int64_t fan_in() const { return dims.size() < 2 ? dims[0] : dims[1] * receptive(); }
  int64_t fan_out() const { return dims[0] * receptive(); }
  int64_t receptive() const { return dims.size() == 4 ? dims[2] * dims[3] : 1; }
};

// How spec layer l reads its parameters.
struct LayerParams {
  int weight = -1;             // index into ParamRegistry::params
  int bias = -1;
  bool trans_w = false;        // the weight is another layer's, used transposed (tied: y = x·W)
  std::string weight_name;     // this layer's own weight name (PyTorch), stored or not (tied)
};

struct ParamRegistry {
  std::vector<ParamDef> params;     // the stored parameters, in store and file order
  std::vector<LayerParams> layers;  // one per spec layer
  std::vector<LayerParams> discriminator;  // one per adversarial discriminator layer (Spec::adversarial)
  int64_t count() const;            // scalar parameters (a shared weight counted once)
  int index_of(const std::string& name) const;  // -1 when absent
};

// Layers in order, each with a weight and a bias; a tied spec's decoder layer l uses the weight of
// its mirror encoder layer (num_layers − 1 − l) transposed and owns only its bias. An adversarial
// discriminator's layers follow (discriminator.0.weight, ...), initialised as spec layers
// num_layers + l, in group 1; the encoder's parameters are then in groups {0, 2}.
ParamRegistry param_registry(const Spec& spec);

}  // namespace ae
