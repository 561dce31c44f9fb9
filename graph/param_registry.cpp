// Parameter names, shapes, initialisation and sharing, from a Spec.
#include "graph/param_registry.h"

namespace ae {

int64_t ParamDef::size() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

int64_t ParamRegistry::count() const {
  int64_t n = 0;
  for (const auto& p : params) n += p.size();
  return n;
}

int ParamRegistry::index_of(const std::string& name) const {
  for (size_t i = 0; i < params.size(); ++i)
    if (params[i].name == name) return int(i);
  return -1;
}

ParamRegistry param_registry(const Spec& spec) {
  ParamRegistry r;
  const int64_t n = spec.num_layers(), n_enc = int64_t(spec.encoder.size());
  // A convolution's weight needs its input channels: the shape of the tensor before it.
  const std::vector<Shape> shapes = spec.convolutional() ? spec.layer_shapes() : std::vector<Shape>();
  for (int64_t l = 0; l < n; ++l) {
    const std::string prefix = layer_param_prefix(spec, l);
    const LayerSpec& ls = spec.layer(l);
    LayerParams lp;
    lp.weight_name = prefix + ".weight";
    if (ls.kind != LayerKind::dense) {  // PyTorch's layouts: Conv2d [out, in, k, k], ConvTranspose2d [in, out, k, k]
      if (ls.is_conv()) {
        const int64_t in_c = (l == 0 ? spec.input_shape : shapes[size_t(l - 1)])[0];
        const std::vector<int64_t> dims = ls.kind == LayerKind::conv2d ? std::vector<int64_t>{ls.channels, in_c, ls.kernel, ls.kernel}
                                                                        : std::vector<int64_t>{in_c, ls.channels, ls.kernel, ls.kernel};
        lp.weight = int(r.params.size());
        r.params.push_back({lp.weight_name, dims, ParamKind::weight, int(l), ls.act, {0}});
        if (ls.bias) {
          lp.bias = int(r.params.size());
          r.params.push_back({prefix + ".bias", {ls.channels}, ParamKind::bias, int(l), ls.act, {0}});
        }
      } else {
        lp.weight_name.clear();  // pools, upsample and reshape have no parameters
      }
      r.layers.push_back(lp);
      continue;
    }
    if (ls.variational) {  // the μ and log σ² heads as one GEMM: rows [0, N) μ, [N, 2N) log σ²
      lp.weight_name = "mu_logvar.weight";
      lp.weight = int(r.params.size());
      r.params.push_back({lp.weight_name, {2 * ls.units, spec.layer_in(l)}, ParamKind::weight, int(l), Act::linear, {0},
                          {"mu.weight", "logvar.weight"}});
      lp.bias = int(r.params.size());
      r.params.push_back({"mu_logvar.bias", {2 * ls.units}, ParamKind::bias, int(l), Act::linear, {0}, {"mu.bias", "logvar.bias"}});
      r.layers.push_back(lp);
      continue;
    }
    if (spec.tied && l >= n_enc) {
      lp.weight = r.layers[size_t(n - 1 - l)].weight;  // the mirror encoder layer's [in, out] = this layer's [out, in]ᵀ
      lp.trans_w = true;
    } else {
      lp.weight = int(r.params.size());
      r.params.push_back({lp.weight_name, {ls.units, spec.layer_in(l)}, ParamKind::weight, int(l), ls.act, {0}});
    }
    lp.bias = int(r.params.size());
    r.params.push_back({prefix + ".bias", {ls.units}, ParamKind::bias, int(l), ls.act, {0}});
    r.layers.push_back(lp);
  }
  if (!spec.adversarial.enabled()) return r;
  // The generator phase trains the encoder with an optimizer state of its own (group 2), as the
  // common PyTorch AAE keeps a third optimizer over the encoder's parameters.
  for (int64_t l = 0; l < n_enc; ++l)
    for (int i : {r.layers[size_t(l)].weight, r.layers[size_t(l)].bias}) r.params[size_t(i)].groups = {0, 2};
  const Adversarial& d = spec.adversarial;
  for (int64_t l = 0; l < int64_t(d.layers.size()); ++l) {
    const std::string prefix = discriminator_param_prefix(spec, l);
    const LayerSpec& ls = d.layers[size_t(l)];
    const int64_t in = l == 0 ? d.input : d.layers[size_t(l - 1)].units;
    const int owner = int(n + l);  // its own initialisation stream, after the autoencoder's layers
    LayerParams lp;
    lp.weight_name = prefix + ".weight";
    lp.weight = int(r.params.size());
    r.params.push_back({lp.weight_name, {ls.units, in}, ParamKind::weight, owner, ls.act, {1}});
    lp.bias = int(r.params.size());
    r.params.push_back({prefix + ".bias", {ls.units}, ParamKind::bias, owner, ls.act, {1}});
    r.discriminator.push_back(lp);
  }
  return r;
}

}  // namespace ae
