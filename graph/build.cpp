// Forward graph construction from a Spec: parameters from the one registry, one dense layer as
// linear → bias_add → activation, and the reconstruction loss as the objective's first term.
#include "graph/build.h"

#include <algorithm>
#include <cmath>

#include "graph/param_registry.h"
#include "kernels/common/error.h"

namespace ae {

const char* graph_mode_name(GraphMode m) {
  switch (m) {
    case GraphMode::train: return "train";
    case GraphMode::eval: return "eval";
    case GraphMode::encode: return "encode";
    case GraphMode::decode: return "decode";
    case GraphMode::reconstruct: return "reconstruct";
    case GraphMode::encode_logvar: return "encode_logvar";
    case GraphMode::encode_sample: return "encode_sample";
    case GraphMode::eval_iw: return "eval_iw";
  }
  return "?";
}

bool is_eval(GraphMode m) { return m == GraphMode::eval || m == GraphMode::eval_iw; }

bool is_encode(GraphMode m) { return m == GraphMode::encode || m == GraphMode::encode_logvar || m == GraphMode::encode_sample; }

int64_t mode_input_width(const Spec& spec, GraphMode m) { return m == GraphMode::decode ? spec.code_units() : spec.input; }

int64_t mode_output_width(const Spec& spec, GraphMode m) {
  if (m == GraphMode::encode_logvar) return 2 * spec.code_units();
  return is_encode(m) ? spec.code_units() : spec.input;
}

namespace {

// The tensors of one dense layer: its weight, pre-activation and output (= z when linear).
struct LayerTensors {
  int w = -1, z = -1, y = -1;
  Act act = Act::linear;
};

// One dense layer as primitives: linear → bias_add → activation (omitted when linear). A
// variational code layer is its two heads as one: 2·units outputs, μ ‖ log σ².
LayerTensors dense_layer(Graph& g, const LayerSpec& ls, const LayerParams& lp, const std::vector<int>& param_tensor, int64_t l,
                         const std::string& lname, int x) {
  const int64_t units = ls.variational ? 2 * ls.units : ls.units;
  Attrs lin;
  lin.trans_w = lp.trans_w;
  int mm = g.add_tensor(batched_tensor(lname + ".xw", TensorRole::activation, {units}));
  g.add_node(OpType::linear, {x, param_tensor[size_t(lp.weight)]}, {mm}, lin, int(l));
  int z = g.add_tensor(batched_tensor(ls.variational ? "mu|logvar" : lname + ".z", TensorRole::activation, {units}));
  g.add_node(OpType::bias_add, {mm, param_tensor[size_t(lp.bias)]}, {z}, {}, int(l));
  const int w = param_tensor[size_t(lp.weight)];
  if (ls.act == Act::linear) return {w, z, z, ls.act};
  int y = g.add_tensor(batched_tensor(lname + ".y", TensorRole::activation, {units}));
  Attrs a;
  a.act = ls.act;
  g.add_node(OpType::activation, {z}, {y}, a, int(l));
  return {w, z, y, ls.act};
}

// One convolutional-family layer on x (an image tensor, or a flat one a reshape relabels): conv2d →
// bias_add per channel → activation (omitted when linear) for a convolution, one pool node for a
// pool or an upsample, nothing for a reshape (the next layer reads the same [B, C·H·W] memory with
// its own geometry; nn.Unflatten moves no data either).
LayerTensors spatial_layer(Graph& g, const LayerSpec& ls, const LayerParams& lp, const std::vector<int>& param_tensor, int64_t l,
                           const std::string& lname, int x, const Shape& in, const Shape& out) {
  if (ls.kind == LayerKind::reshape) return {-1, x, x, Act::linear};
  AE_CHECK(in.size() == 3 && out.size() == 3, "build_graph: layer ", l, " (", layer_kind_name(ls.kind), ") needs [C,H,W] shapes");
  auto image = [&](const std::string& name) { return g.add_tensor(image_tensor(name, TensorRole::activation, out[0], out[1], out[2])); };
  Attrs a;
  if (!ls.is_conv()) {
    if (ls.kind == LayerKind::upsample) {
      a.pool_kind = PoolKind::upsample;
      a.upsample = UpsampleGeometry{0, in[0], in[1], in[2], ls.scale, ls.scale};
    } else {
      a.pool_kind = ls.kind == LayerKind::max_pool2d ? PoolKind::max : PoolKind::avg;
      a.pool = PoolGeometry{0, in[0], in[1], in[2], ls.kernel, ls.kernel, ls.stride, ls.stride, ls.padding, ls.padding};
    }
    const int y = image(lname + "." + pool_kind_name(a.pool_kind));
    g.add_node(OpType::pool, {x}, {y}, a, int(l));
    return {-1, y, y, Act::linear};
  }
  ConvGeometry& c = a.conv;
  c.in_c = in[0], c.in_h = in[1], c.in_w = in[2], c.out_c = ls.channels, c.k_h = c.k_w = ls.kernel;
  c.stride_h = c.stride_w = ls.stride, c.pad_h = c.pad_w = ls.padding, c.dil_h = c.dil_w = ls.dilation;
  c.out_pad_h = c.out_pad_w = ls.output_padding, c.transposed = ls.kind == LayerKind::conv_transpose2d;
  AE_CHECK(c.out_h() == out[1] && c.out_w() == out[2], "build_graph: layer ", l, " geometry disagrees with the spec's shapes");
  const int w = param_tensor[size_t(lp.weight)];
  int z = image(lname + (lp.bias >= 0 ? ".conv" : ".z"));
  g.add_node(OpType::conv2d, {x, w}, {z}, a, int(l));
  if (lp.bias >= 0) {
    const int zb = image(lname + ".z");
    Attrs b;
    b.bcast = Broadcast::channel;
    g.add_node(OpType::bias_add, {z, param_tensor[size_t(lp.bias)]}, {zb}, b, int(l));
    z = zb;
  }
  if (ls.act == Act::linear) return {w, z, z, ls.act};
  const int y = image(lname + ".y");
  Attrs act;
  act.act = ls.act;
  g.add_node(OpType::activation, {z}, {y}, act, int(l));
  return {w, z, y, ls.act};
}

// The spec's penalty on the code h [B, N], its own weighted term of the training objective: one
// node (kernels/common/sparsity.h has the math), which also leaves the code's column sums for its
// gradient. Evaluation (validation loss, scores) measures reconstruction alone.
void add_penalties(Graph& g, const Spec& spec, int h) {
  if (spec.sparsity.kind == Sparsity::Kind::none) return;
  const int v = g.add_tensor(fixed_tensor("sparsity", TensorRole::scalar, {1}));
  const int colsum = g.add_tensor(fixed_tensor("code column sums", TensorRole::activation, {spec.code_units()}));
  Attrs a;
  a.sparsity = spec.sparsity.params();
  g.add_node(OpType::sparsity, {h}, {v, colsum}, a, int(spec.encoder.size() - 1));
  g.terms.push_back(Term{"sparsity", spec.sparsity.lambda, v});
  g.outputs.push_back(v);
}

// act′ of an encoder layer as a [B, n] tensor: activation_grad of ones (the node is a function of z,
// so its gradient reaches z through act″).
int act_derivative_of(Graph& g, const LayerTensors& lt, int layer) {
  const Tensor& z = g.tensors[size_t(lt.z)];
  const std::vector<int64_t> dims = z.dims;
  const int ones = g.add_tensor(batched_tensor("ones" + std::to_string(layer), TensorRole::activation, dims));
  Attrs one;
  one.scale = 1.0;
  g.add_node(OpType::fill, {}, {ones}, one, layer);
  const int d = g.add_tensor(batched_tensor("act'" + std::to_string(layer), TensorRole::activation, dims));
  Attrs a;
  a.act = lt.act;
  g.add_node(OpType::activation_grad, {ones, lt.z, lt.y}, {d}, a, layer);
  return d;
}

// λ · (1/B) Σ_b ‖J_b‖²_F, J = ∂h/∂x of the code h. Exact for any depth.
// One layer, h = a(W x + b): J = diag(a′(z)) W, so ‖J‖²_F = Σ_j a′(z_j)² ‖W_j‖² — O(n) per sample
// after the O(n·d) row norms, which do not depend on the batch: one `contractive` node with its own
// kernels (forward, and the gradients for z and W) on every backend.
// Deeper encoders are built from primitives, so autodiff differentiates them (through act″ and
// every use of each weight) and every backend runs them.
// L ≥ 2 layers: J = D_L W_L ⋯ D_2 W_2 D_1 W_1 with D_l = diag(a_l′(z_l)). Per sample, the C code
// rows of K = D_L W_L ⋯ W_2 D_1 [C, n_1] are built from the code side as a [B·C, n] tensor,
//   K_{L−1} = (W_L tiled over the batch) ⊙ (a_L′ per row) ⊙ (a_{L−1}′ per sample),
//   K_{l−1} = (K_l · W_l) ⊙ (a_{l−1}′ per sample),
// and ‖J‖²_F = ‖K W_1‖²_F = Σ (K G) ⊙ K with G = W_1 W_1ᵀ [n_1, n_1], formed once per batch: the
// input width d never meets the batch. Cost per sample: 2·C·n_1² (K G) + 2·C·Σ_{l=2}^{L−1} n_l·n_{l−1}
// (the chain), plus 2·n_1²·d per batch for G; `ae plan` reports the penalty's share.
void add_contractive(Graph& g, const Spec& spec, const std::vector<LayerTensors>& enc) {
  AE_CHECK(enc.size() == spec.encoder.size(), "contractive: the encoder's layers were not all built");
  const int layer = int(enc.size() - 1);
  const int64_t units = spec.code_units();
  if (enc.size() == 1) {  // the closed form, one node (kernels/common/contractive.h)
    const int v = g.add_tensor(fixed_tensor("contractive", TensorRole::scalar, {1}));
    const int sums = g.add_tensor(fixed_tensor("Σ_b a'(z)^2", TensorRole::activation, {units}));
    const int norms = g.add_tensor(fixed_tensor("|W_j|^2", TensorRole::activation, {units}));
    Attrs a;
    a.act = enc[0].act;
    g.add_node(OpType::contractive, {enc[0].z, enc[0].w}, {v, sums, norms}, a, layer);
    g.terms.push_back(Term{"contractive", spec.contractive, v});
    g.outputs.push_back(v);
    return;
  }
  const int L = int(enc.size());
  const int64_t C = units;
  auto width = [&](int l) { return g.tensors[size_t(enc[size_t(l)].z)].cols(); };  // n_{l+1} of layer l (0-based)
  auto mul = [&](int a, int b, Broadcast bc, int64_t cols, const std::string& name) {
    const int y = g.add_tensor(batched_tensor(name, TensorRole::activation, {C, cols}));
    Attrs m;
    m.binary = BinaryOp::mul;
    m.bcast = bc;
    g.add_node(OpType::binary, {a, b}, {y}, m, layer);
    return y;
  };
  std::vector<int> d(static_cast<size_t>(L));
  for (int l = 0; l < L; ++l) d[size_t(l)] = act_derivative_of(g, enc[size_t(l)], l);
  // K_{L−1}: rows (b, j) = a_L′(z_L)[b, j] · W_L[j, :] ⊙ a_{L−1}′[b, :]
  const int64_t n_prev = width(L - 2);
  const int tiled = g.add_tensor(batched_tensor("W" + std::to_string(L - 1) + " tiled", TensorRole::activation, {C, n_prev}));
  Attrs tile;
  tile.bcast = Broadcast::tile;
  g.add_node(OpType::broadcast, {enc[size_t(L - 1)].w}, {tiled}, tile, layer);
  int k = mul(tiled, d[size_t(L - 1)], Broadcast::col, n_prev, "K" + std::to_string(L - 1) + "'");
  k = mul(k, d[size_t(L - 2)], Broadcast::sample, n_prev, "K" + std::to_string(L - 1));
  for (int l = L - 2; l >= 1; --l) {  // K_l ← (K_{l+1} · W_{l+1}) ⊙ a_l′, 1-based as above
    const int64_t n = width(l - 1);
    const int kw = g.add_tensor(batched_tensor("K" + std::to_string(l + 1) + "W", TensorRole::activation, {C, n}));
    Attrs lin;
    lin.trans_w = true;  // [B·C, n_{l+1}] · W [n_{l+1}, n_l]
    g.add_node(OpType::linear, {k, enc[size_t(l)].w}, {kw}, lin, layer);
    k = mul(kw, d[size_t(l - 1)], Broadcast::sample, n, "K" + std::to_string(l));
  }
  const int64_t n1 = width(0);
  const int gram = g.add_tensor(fixed_tensor("W0·W0ᵀ", TensorRole::activation, {n1, n1}));
  g.add_node(OpType::linear, {enc[0].w, enc[0].w}, {gram}, {}, layer);
  const int kg = g.add_tensor(batched_tensor("K·G", TensorRole::activation, {C, n1}));
  g.add_node(OpType::linear, {k, gram}, {kg}, {}, layer);  // K·Gᵀ = K·G
  const int p = mul(kg, k, Broadcast::none, n1, "|J|^2 terms");
  // Rows first, then the B·C row sums: a reduce over everything runs as one block on cuda, which
  // suits scalars, not B·C·n_1 elements.
  const int rows = g.add_tensor(batched_tensor("|J_j|^2", TensorRole::activation, {C}));
  Attrs rc;
  rc.axis = ReduceAxis::cols;
  g.add_node(OpType::reduce, {p}, {rows}, rc, layer);
  const int v = g.add_tensor(fixed_tensor("contractive", TensorRole::scalar, {1}));
  Attrs r;  // (1/B) Σ over the B·C row sums = C · their mean
  r.axis = ReduceAxis::all;
  r.mean = true;
  r.scale = double(C);
  g.add_node(OpType::reduce, {rows}, {v}, r, layer);
  g.terms.push_back(Term{"contractive", spec.contractive, v});
  g.outputs.push_back(v);
}

// A VAE's code from its heads h = μ ‖ log σ² [B, 2N]: one reparam node writes z = μ + σ⊙ε (or μ),
// the mean KL (an objective term of its own, weighted by β and warmed up in training) and each
// row's KL (eval adds it to the reconstruction's per-row sum: the row's negative ELBO).
struct VaeCode {
  int z = -1, kl_rows = -1;
};
VaeCode add_reparam(Graph& g, const Spec& spec, int h, GraphMode mode) {
  const int layer = int(spec.encoder.size() - 1);
  VaeCode c;
  c.z = g.add_tensor(batched_tensor("z", TensorRole::activation, {spec.code_units()}));
  const int value = g.add_tensor(fixed_tensor("kl", TensorRole::scalar, {1}));
  c.kl_rows = g.add_tensor(batched_tensor("kl per row", TensorRole::activation, {1}));
  Attrs a;
  // Training, evaluation and encode_sample draw z; encode and reconstruct use μ.
  a.vae.sample = mode == GraphMode::train || is_eval(mode) || mode == GraphMode::encode_sample;
  a.vae.sampled_kl = mode == GraphMode::eval_iw;
  g.add_node(OpType::reparam, {h}, {c.z, value, c.kl_rows}, a, layer);
  if (mode == GraphMode::train || is_eval(mode)) {
    // Training weighs KL by β (warmed up); evaluation reports the negative ELBO, β = 1.
    Term t{"kl", mode == GraphMode::train ? spec.beta : 1.0, value};
    if (mode == GraphMode::train) t.ramp = spec.kl_warmup;
    g.terms.push_back(t);
  }
  return c;
}

// An adversarial autoencoder's discriminator applied to codes c [B, N]: its dense layers (the same
// parameters wherever it is applied; autodiff accumulates a parameter used twice), then a sigmoid
// on its one logit, which lowering moves into the bce loss (bce from logits, as PyTorch's
// BCEWithLogitsLoss). Its nodes are layers num_layers + l. Returns D(c) [B, 1].
int discriminate(Graph& g, const Spec& spec, const ParamRegistry& reg, const std::vector<int>& param_tensor, int c,
                 const std::string& name) {
  const Adversarial& d = spec.adversarial;
  const int64_t base = spec.num_layers();
  for (size_t l = 0; l < d.layers.size(); ++l)
    c = dense_layer(g, d.layers[l], reg.discriminator[l], param_tensor, base + int64_t(l), name + ".layer" + std::to_string(l), c).y;
  const int y = g.add_tensor(batched_tensor(name, TensorRole::activation, {1}));
  Attrs a;
  a.act = Act::sigmoid;
  g.add_node(OpType::activation, {c}, {y}, a, int(base + int64_t(d.layers.size()) - 1));
  return y;
}

// The term `name` = bce(p, target) averaged over the batch (BCEWithLogitsLoss's mean reduction),
// its target a fill. Returns its per-sample errors.
int bce_term(Graph& g, int p, double target, const std::string& name, int layer) {
  const int t = g.add_tensor(batched_tensor(name + " target", TensorRole::activation, {1}));
  Attrs f;
  f.scale = target;
  g.add_node(OpType::fill, {}, {t}, f, layer);
  const int value = g.add_tensor(fixed_tensor(name, TensorRole::scalar, {1}));
  const int err = g.add_tensor(batched_tensor(name + " per sample", TensorRole::activation, {1}));
  Attrs l;
  l.loss = Loss::bce;
  g.add_node(OpType::loss, {p, t}, {value, err}, l, layer);
  g.terms.push_back(Term{name, 1.0, value});
  g.outputs.push_back(value);
  return err;
}

// The forward of an adversarial autoencoder's phase 1 (discriminator: d_real = bce(D(p), 1) on
// prior samples p, d_fake = bce(D(h), 0) on the codes h of the clean input, the encoder a constant)
// or phase 2 (generator: gen = bce(D(h), 1), D a constant). The decoder takes no part; the
// reconstruction phase alone sees a denoising model's corruption.
void add_adversarial_phase(Graph& g, const Spec& spec, const ParamRegistry& reg, const std::vector<int>& param_tensor,
                           int phase, int x) {
  int h = x;
  for (int64_t l = 0; l < int64_t(spec.encoder.size()); ++l)
    h = dense_layer(g, spec.layer(l), reg.layers[size_t(l)], param_tensor, l, "layer" + std::to_string(l), h).y;
  const int layer = int(spec.num_layers() + int64_t(spec.adversarial.layers.size()) - 1);
  if (phase == 1) {
    const int p = g.add_tensor(batched_tensor("prior sample", TensorRole::activation, {spec.code_units()}));
    Attrs a;
    a.prior = spec.adversarial.prior;
    g.add_node(OpType::prior, {}, {p}, a, int(spec.num_layers()));
    g.per_sample = bce_term(g, discriminate(g, spec, reg, param_tensor, p, "D(prior)"), 1.0, "d_real", layer);
    bce_term(g, discriminate(g, spec, reg, param_tensor, h, "D(code)"), 0.0, "d_fake", layer);
  } else {
    g.per_sample = bce_term(g, discriminate(g, spec, reg, param_tensor, h, "D(code)"), 1.0, "gen", layer);
  }
  g.tensors[size_t(g.per_sample)].role = TensorRole::output;
  g.outputs.push_back(g.per_sample);
}

}  // namespace

// An adversarial autoencoder trains in three phases per step, each with its own optimizer state
// for the parameters it updates (the common PyTorch AAE's three optimizers): the reconstruction
// updates encoder and decoder (group 0), the discriminator learns to tell prior samples from codes
// (group 1), and the generator updates the encoder to fool it (group 2, the encoder again).
std::vector<TrainingPhase> training_phases(const Spec& spec) {
  if (!spec.adversarial.enabled()) return {TrainingPhase{"autoencoder", {0}}};
  return {TrainingPhase{"reconstruction", {0}}, TrainingPhase{"discriminator", {1}}, TrainingPhase{"generator", {2}}};
}

Graph build_graph(const Spec& spec, const BuildOptions& opt) {
  Graph g;
  g.phase = opt.mode == GraphMode::train ? opt.phase : 0;
  const ParamRegistry reg = param_registry(spec);
  // Every registered param exists in every mode, so parameter indices match the model's store.
  // Each parameter's group in this graph: the one its phase trains it under, else its first (a
  // phase's optimizer_step then reads and writes that group's state).
  std::vector<int> phase_groups;
  if (opt.mode == GraphMode::train) {
    const auto phases = training_phases(spec);
    AE_CHECK(opt.phase >= 0 && opt.phase < int(phases.size()), "build_graph: no training phase ", opt.phase);
    phase_groups = phases[size_t(opt.phase)].groups;
  }
  std::vector<int> param_tensor;
  for (const ParamDef& p : reg.params) {
    int group = p.groups.front();
    for (int pg : phase_groups)
      if (std::find(p.groups.begin(), p.groups.end(), pg) != p.groups.end()) group = pg;
    param_tensor.push_back(g.add_param(p.name, p.dims, group));
  }
  const int64_t n_enc = int64_t(spec.encoder.size());
  const int64_t first = opt.mode == GraphMode::decode ? n_enc : 0;
  const int64_t last = is_encode(opt.mode) ? n_enc : spec.num_layers();
  const int64_t in_cols = mode_input_width(spec, opt.mode);
  AE_CHECK(spec.variational() || opt.mode == GraphMode::encode || !is_encode(opt.mode), "build_graph: ",
           graph_mode_name(opt.mode), " needs a variational code layer");
  // A convolutional spec's layers read their shapes from here: layer l's input is shapes[l − 1].
  const std::vector<Shape> shapes = spec.convolutional() ? spec.layer_shapes() : std::vector<Shape>();
  auto shape_in = [&](int64_t l) { return l == 0 ? spec.input_tensor_shape() : shapes[size_t(l - 1)]; };
  const Shape x_shape = spec.convolutional() ? shape_in(first) : Shape{in_cols};
  const std::string x_name = opt.mode == GraphMode::decode ? "code" : "x";
  int x = g.add_tensor(x_shape.size() == 3 ? image_tensor(x_name, TensorRole::input, x_shape[0], x_shape[1], x_shape[2])
                                           : batched_tensor(x_name, TensorRole::input, {in_cols}));
  g.inputs.push_back(x);
  if (opt.mode == GraphMode::train && opt.phase > 0) {  // an adversarial autoencoder's other phases
    add_adversarial_phase(g, spec, reg, param_tensor, opt.phase, x);
    append_backward(g, phase_groups);
    return g;
  }
  int h = x, code = -1;
  VaeCode vae;
  std::vector<LayerTensors> encoder;  // the encoder's layers (train and eval graphs)
  // A denoising model trains on a corrupted copy of x (fresh every step) and reconstructs the
  // clean x: the loss below keeps reading x. Only the training graph corrupts.
  if (opt.mode == GraphMode::train && spec.noise.kind != NoiseKind::none) {
    h = g.add_tensor(batched_tensor("x~", TensorRole::activation, {in_cols}));
    Attrs n;
    n.noise = spec.noise.params();
    g.add_node(OpType::noise, {x}, {h}, n, 0);
  }
  for (int64_t l = first; l < last; ++l) {
    const std::string lname = "layer" + std::to_string(l);
    const LayerSpec& ls = spec.layer(l);
    const LayerTensors lt = ls.kind == LayerKind::dense
                                ? dense_layer(g, ls, reg.layers[size_t(l)], param_tensor, l, lname, h)
                                : spatial_layer(g, ls, reg.layers[size_t(l)], param_tensor, l, lname, h, shape_in(l), shapes[size_t(l)]);
    h = lt.y;
    if (l < n_enc) encoder.push_back(lt);
    if (l == n_enc - 1 && spec.variational() && opt.mode != GraphMode::encode_logvar) {
      vae = add_reparam(g, spec, h, opt.mode);
      h = vae.z;
    }
    if (l == n_enc - 1) code = h;
  }
  AE_CHECK(spec.variational() || opt.mode != GraphMode::eval_iw, "build_graph: eval_iw needs a variational code layer");
  if (opt.mode == GraphMode::train || is_eval(opt.mode)) {
    int loss = g.add_tensor(fixed_tensor("loss", TensorRole::scalar, {1}));
    int err = g.add_tensor(batched_tensor("per_sample_error", TensorRole::output, {1}));
    Attrs a;
    a.loss = opt.loss;
    // A VAE's reconstruction term is −log p(x|z): summed over the features, averaged over the batch.
    a.reduction = spec.variational() ? LossReduction::sum : LossReduction::mean;
    g.add_node(OpType::loss, {h, x}, {loss, err}, a, int(spec.num_layers() - 1));
    g.terms.insert(g.terms.begin(), Term{"recon", 1.0, loss});  // first: the executor's loss
    g.per_sample = err;
    g.outputs = {loss, err};
    if (spec.variational()) {  // kl after recon; eval's per-row error is the negative ELBO
      g.outputs.push_back(g.terms.back().tensor);
      if (is_eval(opt.mode)) {
        g.tensors[size_t(err)].role = TensorRole::activation;
        const int elbo = g.add_tensor(batched_tensor("negative ELBO", TensorRole::output, {1}));
        g.add_node(OpType::add, {err, vae.kl_rows}, {elbo}, {}, int(spec.num_layers() - 1));
        g.per_sample = elbo;
        g.outputs[1] = elbo;
      }
    }
    // Each penalty's nodes are tagged with its term, so `ae plan` can say what the penalty costs.
    auto tagged = [&g](auto&& build) {
      const size_t first = g.nodes.size(), terms = g.terms.size();
      build();
      if (g.terms.size() == terms + 1)
        for (size_t i = first; i < g.nodes.size(); ++i) g.nodes[i].term = int(terms);
    };
    if (opt.mode == GraphMode::train) tagged([&] { add_penalties(g, spec, code); });
    if (opt.mode == GraphMode::train && spec.contractive != 0) tagged([&] { add_contractive(g, spec, encoder); });
    if (opt.mode == GraphMode::train) append_backward(g, phase_groups);
  } else {
    g.tensors[size_t(h)].role = TensorRole::output;
    g.outputs = {h};
  }
  return g;
}

}  // namespace ae
