// Forward graph construction from a Spec: parameters from the one registry, one dense layer as
// linear → bias_add → activation, and the reconstruction loss as the objective's first term.
#include "graph/build.h"

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
  }
  return "?";
}

namespace {

// The tensors of one dense layer: its weight, pre-activation and output (= z when linear).
struct LayerTensors {
  int w = -1, z = -1, y = -1;
  Act act = Act::linear;
};

// One dense layer as primitives: linear → bias_add → activation (omitted when linear).
LayerTensors dense_layer(Graph& g, const Spec& spec, const LayerParams& lp, const std::vector<int>& param_tensor, int64_t l,
                         int x) {
  const LayerSpec& ls = spec.layer(l);
  const std::string lname = "layer" + std::to_string(l);
  Attrs lin;
  lin.trans_w = lp.trans_w;
  int mm = g.add_tensor(batched_tensor(lname + ".xw", TensorRole::activation, {ls.units}));
  g.add_node(OpType::linear, {x, param_tensor[size_t(lp.weight)]}, {mm}, lin, int(l));
  int z = g.add_tensor(batched_tensor(lname + ".z", TensorRole::activation, {ls.units}));
  g.add_node(OpType::bias_add, {mm, param_tensor[size_t(lp.bias)]}, {z}, {}, int(l));
  const int w = param_tensor[size_t(lp.weight)];
  if (ls.act == Act::linear) return {w, z, z, ls.act};
  int y = g.add_tensor(batched_tensor(lname + ".y", TensorRole::activation, {ls.units}));
  Attrs a;
  a.act = ls.act;
  g.add_node(OpType::activation, {z}, {y}, a, int(l));
  return {w, z, y, ls.act};
}

// β · Σ_j KL(ρ ‖ ρ̂_j) with ρ̂ = the batch mean of the (sigmoid) code h [B, N], from primitives:
//   Σ_j KL = −ρ Σ_j ln ρ̂_j − (1−ρ) Σ_j ln(1−ρ̂_j) + N·(ρ ln ρ + (1−ρ) ln(1−ρ)),
// so the term's value is the divergence itself (≥ 0, 0 when every unit's mean is ρ).
void add_kl_sparsity(Graph& g, const Spec& spec, int h) {
  const int64_t units = spec.code_units();
  const double rho = spec.sparsity.rho;
  const int layer = int(spec.encoder.size() - 1);
  auto vec = [&](const char* name) { return g.add_tensor(fixed_tensor(name, TensorRole::activation, {units})); };
  auto scalar = [&](const char* name) { return g.add_tensor(fixed_tensor(name, TensorRole::scalar, {1})); };
  auto unary = [&](UnaryOp op, double scale, int in, int out) {
    Attrs a;
    a.unary = op;
    a.scale = scale;
    g.add_node(OpType::unary, {in}, {out}, a, layer);
  };
  auto sum = [&](int in, double scale, int out) {
    Attrs r;
    r.axis = ReduceAxis::all;
    r.scale = scale;
    g.add_node(OpType::reduce, {in}, {out}, r, layer);
  };
  auto add = [&](int a, int b, Broadcast bc, int out) {
    Attrs r;
    r.binary = BinaryOp::add;
    r.bcast = bc;
    g.add_node(OpType::binary, {a, b}, {out}, r, layer);
  };
  const int mean = vec("rho_hat");  // [N]: Σ over the batch's rows / B
  Attrs m;
  m.axis = ReduceAxis::rows;
  m.mean = true;
  g.add_node(OpType::reduce, {h}, {mean}, m, layer);
  const int one = scalar("1");
  Attrs f;
  f.scale = 1.0;
  g.add_node(OpType::fill, {}, {one}, f, layer);
  const int neg = vec("-rho_hat"), rest = vec("1-rho_hat"), log_mean = vec("ln(rho_hat)"), log_rest = vec("ln(1-rho_hat)");
  unary(UnaryOp::scale, -1.0, mean, neg);
  add(neg, one, Broadcast::scalar, rest);
  unary(UnaryOp::log, 1.0, mean, log_mean);
  unary(UnaryOp::log, 1.0, rest, log_rest);
  const int a = scalar("kl_a"), b = scalar("kl_b"), ab = scalar("kl_a+b");
  sum(log_mean, -rho, a);
  sum(log_rest, -(1.0 - rho), b);
  const int c = scalar("kl_const");
  Attrs cf;
  cf.scale = double(units) * (rho * std::log(rho) + (1.0 - rho) * std::log(1.0 - rho));
  g.add_node(OpType::fill, {}, {c}, cf, layer);
  add(a, b, Broadcast::none, ab);
  const int v = scalar("sparsity");
  add(ab, c, Broadcast::none, v);
  g.terms.push_back(Term{"sparsity", spec.sparsity.lambda, v});
  g.outputs.push_back(v);
}

// The spec's penalties on the code h, each its own weighted term of the training objective.
// Evaluation (validation loss, scores) measures reconstruction alone.
void add_penalties(Graph& g, const Spec& spec, int h) {
  if (spec.sparsity.kind == Sparsity::Kind::none) return;
  if (spec.sparsity.kind == Sparsity::Kind::kl) return add_kl_sparsity(g, spec, h);
  const int64_t units = spec.code_units();
  int a = g.add_tensor(batched_tensor("|code|", TensorRole::activation, {units}));
  Attrs abs;
  abs.unary = UnaryOp::abs;
  g.add_node(OpType::unary, {h}, {a}, abs, int(spec.encoder.size() - 1));
  // (1/B) Σ_b Σ_j |h_bj| = units · mean over all B·units elements
  int v = g.add_tensor(fixed_tensor("sparsity", TensorRole::scalar, {1}));
  Attrs r;
  r.axis = ReduceAxis::all;
  r.mean = true;
  r.scale = double(units);
  g.add_node(OpType::reduce, {a}, {v}, r, int(spec.encoder.size() - 1));
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

// λ · (1/B) Σ_b ‖J_b‖²_F, J = ∂h/∂x of the code h, from primitives, so autodiff differentiates it
// (through act″ and both uses of each weight) and every backend runs it.
// One layer, h = a(W x + b): J = diag(a′(z)) W, so ‖J‖²_F = Σ_j a′(z_j)² ‖W_j‖² — O(n) per sample
// after the O(n·d) row norms, which do not depend on the batch.
void add_contractive(Graph& g, const Spec& spec, const std::vector<LayerTensors>& enc) {
  AE_CHECK(enc.size() == spec.encoder.size(), "contractive: the encoder's layers were not all built");
  const int layer = int(enc.size() - 1);
  const int64_t units = spec.code_units();
  const int code_layer = int(enc.size()) - 1;
  if (enc.size() == 1) {
    const int d = act_derivative_of(g, enc[0], 0);
    Attrs sq;
    sq.unary = UnaryOp::square;
    const int d2 = g.add_tensor(batched_tensor("act'^2", TensorRole::activation, {units}));
    g.add_node(OpType::unary, {d}, {d2}, sq, layer);
    const Tensor& w = g.tensors[size_t(enc[0].w)];
    const int w2 = g.add_tensor(fixed_tensor("W^2", TensorRole::activation, w.dims));
    g.add_node(OpType::unary, {enc[0].w}, {w2}, sq, layer);
    const int norms = g.add_tensor(fixed_tensor("|W_j|^2", TensorRole::activation, {units}));
    Attrs rc;
    rc.axis = ReduceAxis::cols;
    g.add_node(OpType::reduce, {w2}, {norms}, rc, layer);
    const int p = g.add_tensor(batched_tensor("|J_j|^2", TensorRole::activation, {units}));
    Attrs mul;
    mul.binary = BinaryOp::mul;
    mul.bcast = Broadcast::row;
    g.add_node(OpType::binary, {d2, norms}, {p}, mul, layer);
    const int v = g.add_tensor(fixed_tensor("contractive", TensorRole::scalar, {1}));
    Attrs r;  // (1/B) Σ_b Σ_j = units · mean over the B·units elements
    r.axis = ReduceAxis::all;
    r.mean = true;
    r.scale = double(units);
    g.add_node(OpType::reduce, {p}, {v}, r, layer);
    g.terms.push_back(Term{"contractive", spec.contractive, v});
    g.outputs.push_back(v);
    return;
  }
  (void)code_layer;
  AE_FAIL("contractive: deep encoders are not built yet");
}

}  // namespace

std::vector<TrainingPhase> training_phases(const Spec&) { return {TrainingPhase{"autoencoder", {0}}}; }

Graph build_graph(const Spec& spec, const BuildOptions& opt) {
  Graph g;
  const ParamRegistry reg = param_registry(spec);
  // Every registered param exists in every mode, so parameter indices match the model's store.
  std::vector<int> param_tensor;
  for (const ParamDef& p : reg.params) param_tensor.push_back(g.add_param(p.name, p.dims, p.group));
  const int64_t n_enc = int64_t(spec.encoder.size());
  const int64_t first = opt.mode == GraphMode::decode ? n_enc : 0;
  const int64_t last = opt.mode == GraphMode::encode ? n_enc : spec.num_layers();
  const int64_t in_cols = opt.mode == GraphMode::decode ? spec.code_units() : spec.input;
  int x = g.add_tensor(batched_tensor(opt.mode == GraphMode::decode ? "code" : "x", TensorRole::input, {in_cols}));
  g.inputs.push_back(x);
  int h = x, code = -1;
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
    const LayerTensors lt = dense_layer(g, spec, reg.layers[size_t(l)], param_tensor, l, h);
    h = lt.y;
    if (l < n_enc) encoder.push_back(lt);
    if (l == n_enc - 1) code = h;
  }
  if (opt.mode == GraphMode::train || opt.mode == GraphMode::eval) {
    int loss = g.add_tensor(fixed_tensor("loss", TensorRole::scalar, {1}));
    int err = g.add_tensor(batched_tensor("per_sample_error", TensorRole::output, {1}));
    Attrs a;
    a.loss = opt.loss;
    g.add_node(OpType::loss, {h, x}, {loss, err}, a, int(spec.num_layers() - 1));
    g.terms.push_back(Term{"recon", 1.0, loss});
    g.per_sample = err;
    g.outputs = {loss, err};
    if (opt.mode == GraphMode::train) add_penalties(g, spec, code);
    if (opt.mode == GraphMode::train && spec.contractive != 0) add_contractive(g, spec, encoder);
    if (opt.mode == GraphMode::train) {
      const auto phases = training_phases(spec);
      AE_CHECK(opt.phase >= 0 && opt.phase < int(phases.size()), "build_graph: no training phase ", opt.phase);
      append_backward(g, phases[size_t(opt.phase)].groups);
    }
  } else {
    g.tensors[size_t(h)].role = TensorRole::output;
    g.outputs = {h};
  }
  return g;
}

}  // namespace ae
