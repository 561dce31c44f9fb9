// Forward graph construction from a Spec.
#include "graph/build.h"

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

int batched_tensor(Graph& g, const std::string& name, int64_t cols, TensorRole role) {
  Tensor t;
  t.name = name;
  t.role = role;
  t.cols = cols;
  return g.add_tensor(t);
}

// One dense layer as primitives: matmul_wt → bias_add → activation (omitted when linear).
int dense_layer(Graph& g, const Spec& spec, int64_t l, int x) {
  const LayerSpec& ls = spec.layer(l);
  std::string prefix = layer_param_prefix(spec, l);
  int w = g.add_param(prefix + ".weight", ls.units, spec.layer_in(l));
  int b = g.add_param(prefix + ".bias", 1, ls.units);
  std::string lname = "layer" + std::to_string(l);
  int mm = batched_tensor(g, lname + ".xw", ls.units, TensorRole::activation);
  g.add_node(Node{OpType::matmul_wt, {x, w}, {mm}, Act::linear, Loss::mse, int(l)});
  int z = batched_tensor(g, lname + ".z", ls.units, TensorRole::activation);
  g.add_node(Node{OpType::bias_add, {mm, b}, {z}, Act::linear, Loss::mse, int(l)});
  if (ls.act == Act::linear) return z;
  int y = batched_tensor(g, lname + ".y", ls.units, TensorRole::activation);
  g.add_node(Node{OpType::activation, {z}, {y}, ls.act, Loss::mse, int(l)});
  return y;
}

}  // namespace

Graph build_graph(const Spec& spec, const BuildOptions& opt) {
  Graph g;
  int64_t n_enc = int64_t(spec.encoder.size());
  int64_t first = opt.mode == GraphMode::decode ? n_enc : 0;
  int64_t last = opt.mode == GraphMode::encode ? n_enc : spec.num_layers();
  int64_t in_cols = opt.mode == GraphMode::decode ? spec.code_units() : spec.input;
  int x = batched_tensor(g, opt.mode == GraphMode::decode ? "code" : "x", in_cols, TensorRole::input);
  g.inputs.push_back(x);
  // Params of layers outside [first, last) still exist so parameter indices match the model's.
  int h = x;
  for (int64_t l = 0; l < spec.num_layers(); ++l) {
    if (l < first || l >= last) {
      std::string prefix = layer_param_prefix(spec, l);
      g.add_param(prefix + ".weight", spec.layer(l).units, spec.layer_in(l));
      g.add_param(prefix + ".bias", 1, spec.layer(l).units);
      continue;
    }
    h = dense_layer(g, spec, l, h);
  }
  if (opt.mode == GraphMode::train || opt.mode == GraphMode::eval) {
    int loss = g.add_tensor(Tensor{"loss", TensorRole::scalar, false, 1, 1});
    int err = g.add_tensor(Tensor{"per_sample_error", TensorRole::output, true, 1, 1});
    g.add_node(Node{OpType::loss, {h, x}, {loss, err}, Act::linear, opt.loss, int(spec.num_layers() - 1)});
    g.loss = loss;
    g.per_sample = err;
    g.outputs = {loss, err};
    if (opt.mode == GraphMode::train) append_backward(g);
  } else {
    g.tensors[h].role = TensorRole::output;
    g.outputs = {h};
  }
  return g;
}

}  // namespace ae
