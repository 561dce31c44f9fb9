// Small training graphs that, between them, use every IR node kind and every autodiff rule: dense
// specs (plain, tied, every activation, both losses), a weight used twice, a weighted loss, and
// penalty terms built from each unary op, each binary op under each broadcast, reductions over
// each axis, broadcast and stop_gradient. The fp64 gradient checks, the fused-vs-unfused test and
// the op table test all draw from this one list.
#pragma once

#include <gtest/gtest.h>

#include <cctype>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "graph/build.h"

namespace ae::test {

struct GraphCase {
  std::string name;               // printable: what the graph exercises
  std::function<Graph()> build;   // a train graph (autodiff appended), unless train is false
  bool train = true;              // false: an eval graph (forward and objective only)
};
inline void PrintTo(const GraphCase& c, std::ostream* os) { *os << c.name; }
// A GoogleTest name for a parameterised test over cases: the case name with only [A-Za-z0-9_].
inline std::string graph_case_test_name(const ::testing::TestParamInfo<GraphCase>& i) {
  std::string s;
  for (char c : i.param.name) s += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return s;
}

namespace detail {

inline int batched(Graph& g, const std::string& name, int64_t cols) {
  return g.add_tensor(batched_tensor(name, TensorRole::activation, {cols}));
}

// x [B, in] → linear(W) → bias → act: one dense layer from primitives.
inline int dense(Graph& g, int x, int w, int b, Act act, const std::string& name, bool trans_w = false) {
  const int64_t out = trans_w ? g.tensors[size_t(w)].dims[1] : g.tensors[size_t(w)].dims[0];
  Attrs lin;
  lin.trans_w = trans_w;
  int xw = batched(g, name + ".xw", out);
  g.add_node(OpType::linear, {x, w}, {xw}, lin);
  int z = batched(g, name + ".z", out);
  g.add_node(OpType::bias_add, {xw, b}, {z});
  if (act == Act::linear) return z;
  Attrs a;
  a.act = act;
  int y = batched(g, name + ".y", out);
  g.add_node(OpType::activation, {z}, {y}, a);
  return y;
}

inline int loss_t(Graph& g) { return g.add_tensor(fixed_tensor("loss", TensorRole::scalar, {1})); }

// Ends a hand-built graph: the reconstruction of input x by y as its one term, then autodiff.
inline Graph finish_recon(Graph& g, int x, int y, Loss loss) {
  int err = g.add_tensor(batched_tensor("per_sample_error", TensorRole::output, {1}));
  Attrs l;
  l.loss = loss;
  int lt = loss_t(g);
  g.add_node(OpType::loss, {y, x}, {lt, err}, l);
  g.terms.push_back({"recon", 1.0, lt});
  g.per_sample = err;
  g.outputs = {lt, err};
  append_backward(g);
  return g;
}

// An autoencoder 5 → 3 (tanh) → 5 (sigmoid) with a reconstruction term of weight `recon_weight`;
// `extra` may add penalty terms on the code h. The decoder's params are in group `dec_group`, and
// autodiff trains `groups` (empty: all). Returns the train graph.
inline Graph with_code(double recon_weight, const std::function<void(Graph&, int h, int x)>& extra, Loss loss = Loss::mse,
                       int dec_group = 0, const std::vector<int>& groups = {}) {
  Graph g;
  int w1 = g.add_param("enc.weight", {3, 5}), b1 = g.add_param("enc.bias", {3});
  int w2 = g.add_param("dec.weight", {5, 3}, dec_group), b2 = g.add_param("dec.bias", {5}, dec_group);
  int x = g.add_tensor(batched_tensor("x", TensorRole::input, {5}));
  g.inputs.push_back(x);
  int h = dense(g, x, w1, b1, Act::tanh, "enc");
  int y = dense(g, h, w2, b2, Act::sigmoid, "dec");
  int err = g.add_tensor(batched_tensor("per_sample_error", TensorRole::output, {1}));
  Attrs l;
  l.loss = loss;
  g.add_node(OpType::loss, {y, x}, {loss_t(g), err}, l);
  g.terms.push_back({"recon", recon_weight, g.nodes.back().out[0]});
  g.per_sample = err;
  g.outputs = {g.nodes.back().out[0], err};
  if (extra) extra(g, h, x);
  append_backward(g, groups);
  return g;
}

// Adds the term weight·mean(t) over all of t's elements.
inline void mean_term(Graph& g, int t, const std::string& name, double weight) {
  int s = g.add_tensor(fixed_tensor(name, TensorRole::scalar, {1}));
  Attrs r;
  r.axis = ReduceAxis::all;
  r.mean = true;
  g.add_node(OpType::reduce, {t}, {s}, r);
  g.terms.push_back({name, weight, s});
  g.outputs.push_back(s);
}

// `phase`: the training phase of a spec with several (training_phases).
inline Graph spec_graph(const std::string& spec, Loss loss, GraphMode mode = GraphMode::train, int phase = 0) {
  BuildOptions o;
  o.mode = mode;
  o.loss = loss;
  o.phase = phase;
  return build_graph(parse_spec(spec), o);
}

}  // namespace detail

// Dense specs from the spec parser and builder: every activation, both losses, tied weights, eval.
inline std::vector<GraphCase> spec_graph_cases() {
  using namespace detail;
  return {
      {"spec(6-5t-3-5r-6s,mse)", [] { return spec_graph("6-5t-3-5r-6s", Loss::mse); }},
      {"spec(6-5t-3-5r-6s,bce)", [] { return spec_graph("6-5t-3-5r-6s", Loss::bce); }},
      {"spec(6-5g-3-5k-6g,mse)", [] { return spec_graph("6-5g-3-5k-6g", Loss::mse); }},
      {"spec(6-5u-3e-5p-6,mse)", [] { return spec_graph("6-5u-3e-5p-6", Loss::mse); }},
      {"tied(6-5t-3-5r-6s,bce)", [] { return spec_graph("6-5t-3-5r-6s:tied", Loss::bce); }},
      {"tied(7-4r-2-4e-7,mse)", [] { return spec_graph("7-4r-2-4e-7:tied", Loss::mse); }},
      {"sparse_l1(6-5t-3-5r-6s,mse)", [] { return spec_graph("6-5t-3-5r-6s:l1=0.3", Loss::mse); }},
      {"sparse_kl(6-5t-3s-5r-6s,bce)", [] { return spec_graph("6-5t-3s-5r-6s:kl=0.2,0.7", Loss::bce); }},
      // Denoising: the corruption each backend draws (or, fused on cuda, regenerates on x's load)
      // must be the interpreter's, bit for bit, or the terms and gradients differ.
      {"denoise_mask(6-5t-3-5r-6s,mse)", [] { return spec_graph("6-5t-3-5r-6s:mask=0.4", Loss::mse); }},
      {"denoise_gaussian(6-5t-3-5r-6s,mse)", [] { return spec_graph("6-5t-3-5r-6s:gaussian=0.3", Loss::mse); }},
      {"denoise_gaussian_clip(6-5r-3s-5r-6s,bce)", [] { return spec_graph("6-5r-3s-5r-6s:gaussian=0.5,clip,0.1,0.8", Loss::bce); }},
      {"denoise_saltpepper(6-5t-3-5r-6s:tied,bce)", [] { return spec_graph("6-5t-3-5r-6s:tied:saltpepper=0.3,0.05,0.95", Loss::bce); }},
      // Contractive, one-layer encoders: the closed form Σ_j a′(z_j)²‖W_j‖², differentiated
      // through act″ (activation_grad2) and both uses of W.
      {"contractive(6-4t-6s,mse)", [] { return spec_graph("6-4t-6s:contractive=0.3", Loss::mse); }},
      {"contractive(6-4s-6s,bce)", [] { return spec_graph("6-4s-6s:contractive=0.7", Loss::bce); }},
      {"contractive(6-4g-6,mse)", [] { return spec_graph("6-4g-6:contractive=0.2", Loss::mse); }},
      {"contractive(6-4p-6s:mask,mse)", [] { return spec_graph("6-4p-6s:contractive=0.5:mask=0.3", Loss::mse); }},
      {"contractive(6-4l-6,mse)", [] { return spec_graph("6-4-6:contractive=0.4", Loss::mse); }},
      // both penalties on one code layer: only the contractive one's gradient fuses into its backward
      {"contractive+kl(6-4s-6s,bce)", [] { return spec_graph("6-4s-6s:kl=0.2,0.7:contractive=0.3", Loss::bce); }},
      // Contractive, deep encoders: the code-side chain K and the Gram matrix W₁W₁ᵀ, through the
      // per-sample broadcasts (tile, col, sample) and their reductions.
      {"contractive(7-5s-3s-5s-7s,bce)", [] { return spec_graph("7-5s-3s-5s-7s:contractive=0.3", Loss::bce); }},
      {"contractive(7-5t-4g-3e-4r-7,mse)", [] { return spec_graph("7-5t-4g-3e-4r-7:contractive=0.2", Loss::mse); }},
      {"contractive(6-5p-4u-5-6s:gaussian,mse)", [] { return spec_graph("6-5p-4u-5-6s:contractive=0.4:gaussian=0.2", Loss::mse); }},
      // variational code layers: the reparam node (z and KL) and its one backward rule
      {"vae(6-5t-3v-5r-6s,bce)", [] { return spec_graph("6-5t-3v-5r-6s", Loss::bce); }},
      {"vae(6-4v-6,mse,beta=4)", [] { return spec_graph("6-4v-6:beta=4", Loss::mse); }},
      {"vae(7-5r-3v-5g-7s:mask,mse)", [] { return spec_graph("7-5r-3v-5g-7s:mask=0.3", Loss::mse); }},
      // adversarial autoencoders, one case per phase: reconstruction (encoder and decoder), the
      // discriminator on prior samples (the prior node) and on codes (its parameters used twice, the
      // encoder a constant), and the generator (the encoder through a constant discriminator); the
      // discriminator's sigmoid moves into bce from logits
      {"aae_recon(6-5t-3-5r-6s:adversarial,bce)", [] { return spec_graph("6-5t-3-5r-6s:adversarial=3-4r-1", Loss::bce); }},
      {"aae_discriminator(6-5t-3-5r-6s:adversarial=3-4r-1)",
       [] { return spec_graph("6-5t-3-5r-6s:adversarial=3-4r-1", Loss::bce, GraphMode::train, 1); }},
      {"aae_generator(6-5t-3-5r-6s:adversarial=3-4r-1)",
       [] { return spec_graph("6-5t-3-5r-6s:adversarial=3-4r-1", Loss::bce, GraphMode::train, 2); }},
      {"aae_discriminator(7-5r-3t-5r-7:adversarial=3-6t-4g-1:uniform)",
       [] { return spec_graph("7-5r-3t-5r-7:adversarial=3-6t-4g-1:prior=uniform", Loss::mse, GraphMode::train, 1); }},
      {"aae_generator(7-5r-3t-5r-7:adversarial=3-6t-4g-1:uniform)",
       [] { return spec_graph("7-5r-3t-5r-7:adversarial=3-6t-4g-1:prior=uniform", Loss::mse, GraphMode::train, 2); }},
      {"aae_recon(7-5r-3t-5r-7:mask:adversarial,mse)", [] { return spec_graph("7-5r-3t-5r-7:mask=0.3:adversarial=3-6t-4g-1", Loss::mse); }},
      {"eval aae(6-5t-3-5r-6s,bce)", [] { return spec_graph("6-5t-3-5r-6s:adversarial=3-4r-1", Loss::bce, GraphMode::eval); }, false},
      {"eval vae(6-5t-3v-5r-6s,bce)", [] { return spec_graph("6-5t-3v-5r-6s", Loss::bce, GraphMode::eval); }, false},
      {"eval spec(6-5t-3-5r-6s,bce)", [] { return spec_graph("6-5t-3-5r-6s", Loss::bce, GraphMode::eval); }, false},
      // Convolutional (issue 12): strided conv + transposed conv; conv + max pool + upsample; a conv
      // encoder with a dense code and a reshape; dilation, no bias, avg pool and a pool of 1×1.
      {"conv(1x5x5-C2k3s2p1r-T1k3s2p1s,mse)", [] { return spec_graph("1x5x5-C2k3s2p1r-T1k3s2p1s", Loss::mse); }},
      {"conv(1x5x5-C2k3s2p1r-T1k3s2p1s,bce)", [] { return spec_graph("1x5x5-C2k3s2p1r-T1k3s2p1s", Loss::bce); }},
      {"conv_pool(1x6x6-C2k3p1r-M2-U2-C1k3p1s,bce)", [] { return spec_graph("1x6x6-C2k3p1r-M2|-U2-C1k3p1s", Loss::bce); }},
      {"conv_dense(1x6x6-C2k3s2p1t-8-18r-R2x3x3-T1k3s2p1o1s,mse)",
       [] { return spec_graph("1x6x6-C2k3s2p1t-8-18r-R2x3x3-T1k3s2p1o1s", Loss::mse); }},
      {"conv_avg(2x7x7-C3k3d2b0g-A2-U3-T2k3d2e,mse)", [] { return spec_graph("2x7x7-C3k3d2b0g-A2|-U3-T2k3d2e", Loss::mse); }},
      {"eval conv(1x6x6-C2k3p1r-M2-U2-C1k3p1s,bce)",
       [] { return spec_graph("1x6x6-C2k3p1r-M2|-U2-C1k3p1s", Loss::bce, GraphMode::eval); }, false},
  };
}

// Graphs whose structure stresses autodiff and lowering: shared weights and gradients, weighted
// and chained terms, untrained groups, a residual sum, stop_gradient.
inline std::vector<GraphCase> structural_graph_cases() {
  using namespace detail;
  return {
      {"weight_used_twice", [] {
         // x → tanh(x·Wᵀ + b1) → (·)·Wᵀ + b2 → mse against x: one square W, two contributions to dW.
         Graph g;
         int w = g.add_param("w", {4, 4}), b1 = g.add_param("b1", {4}), b2 = g.add_param("b2", {4});
         int x = g.add_tensor(batched_tensor("x", TensorRole::input, {4}));
         g.inputs.push_back(x);
         return finish_recon(g, x, dense(g, dense(g, x, w, b1, Act::tanh, "l0"), w, b2, Act::linear, "l1"), Loss::mse);
       }},
      {"residual", [] {
         // h1 = tanh(dense x), h2 = tanh(dense h1), y = sigmoid(dense(h1 + h2)): h1's gradient is the
         // sum of two paths, and the add shares one gradient tensor between its operands.
         Graph g;
         int w1 = g.add_param("w1", {4, 5}), b1 = g.add_param("b1", {4}), w2 = g.add_param("w2", {4, 4});
         int b2 = g.add_param("b2", {4}), w3 = g.add_param("w3", {5, 4}), b3 = g.add_param("b3", {5});
         int x = g.add_tensor(batched_tensor("x", TensorRole::input, {5}));
         g.inputs.push_back(x);
         int h1 = dense(g, x, w1, b1, Act::tanh, "l0"), h2 = dense(g, h1, w2, b2, Act::tanh, "l1");
         int s = batched(g, "h1+h2", 4);
         g.add_node(OpType::binary, {h1, h2}, {s});
         return finish_recon(g, x, dense(g, s, w3, b3, Act::sigmoid, "l2"), Loss::bce);
       }},
      {"weighted_recon(0.5,mse)", [] { return with_code(0.5, nullptr); }},
      {"weighted_recon(0.5,bce)", [] { return with_code(0.5, nullptr, Loss::bce); }},
      {"untrained_group", [] { return with_code(1.0, nullptr, Loss::mse, /*dec_group=*/1, /*groups=*/{0}); }},
      {"param_in_penalty", [] {
         return with_code(1.0, [](Graph& g, int, int) {
           // 0.5·enc.weight averaged: a second gradient contribution to a parameter, through a scale.
           int p = g.add_tensor(fixed_tensor("0.5W", TensorRole::activation, {3, 5}));
           Attrs u;
           u.scale = 0.5;
           g.add_node(OpType::unary, {g.params[0].tensor}, {p}, u);
           mean_term(g, p, "weight_mean", 0.2);
         });
       }},
      {"term_feeds_term", [] {
         return with_code(1.0, [](Graph& g, int h, int) {
           // A = mean(h²) is a term and also the input of B = A²: A's seed and B's gradient add up.
           int q = batched(g, "h²", 3);
           Attrs sq;
           sq.unary = UnaryOp::square;
           g.add_node(OpType::unary, {h}, {q}, sq);
           mean_term(g, q, "A", 0.3);
           int b = g.add_tensor(fixed_tensor("B", TensorRole::scalar, {1}));
           g.add_node(OpType::unary, {g.terms.back().tensor}, {b}, sq);
           g.terms.push_back({"B", 0.2, b});
           g.outputs.push_back(b);
         });
       }},
      {"stop_gradient", [] {
         return with_code(1.0, [](Graph& g, int h, int) {
           int s = batched(g, "sg(h)", 3), q = batched(g, "sq", 3);
           g.add_node(OpType::stop_gradient, {h}, {s});
           Attrs u;
           u.unary = UnaryOp::square;
           g.add_node(OpType::unary, {s}, {q}, u);
           mean_term(g, q, "frozen", 0.7);  // contributes a value, no gradient
         });
       }},
  };
}

// A penalty on the code from each unary op.
inline std::vector<GraphCase> unary_graph_cases() {
  using namespace detail;
  std::vector<GraphCase> cases;
  for (UnaryOp op : {UnaryOp::scale, UnaryOp::exp, UnaryOp::square, UnaryOp::abs, UnaryOp::sign, UnaryOp::log,
                     UnaryOp::recip})
    cases.push_back({std::string("penalty(") + unary_op_name(op) + ")", [op] {
                       return with_code(1.0, [op](Graph& g, int h, int) {
                         if (op == UnaryOp::log || op == UnaryOp::recip) {  // on e^h, in their domain
                           int e = batched(g, "e^h", 3);
                           Attrs ex;
                           ex.unary = UnaryOp::exp;
                           g.add_node(OpType::unary, {h}, {e}, ex);
                           h = e;
                         }
                         int p = batched(g, "f(h)", 3);
                         Attrs u;
                         u.unary = op;
                         u.scale = 1.5;
                         g.add_node(OpType::unary, {h}, {p}, u);
                         mean_term(g, p, "penalty", 0.3);
                       });
                     }});
  return cases;
}

// b: another function of the parameters, laid out as broadcast `bc` wants.
inline int binary_operand(Graph& g, Broadcast bc, int h, int x) {
  using namespace detail;
  if (bc == Broadcast::none) {
    int b = batched(g, "h²", 3);
    Attrs u;
    u.unary = UnaryOp::square;
    g.add_node(OpType::unary, {h}, {b}, u);
    return b;
  }
  if (bc == Broadcast::col) {
    int sx = batched(g, "Σx", 1);  // [B, 1]: a reduction over the features of the input
    Attrs r;
    r.axis = ReduceAxis::cols;
    r.scale = 0.2;
    g.add_node(OpType::reduce, {x}, {sx}, r);
    int sh = batched(g, "Σh", 1);  // and one that carries a gradient
    r.mean = true;
    g.add_node(OpType::reduce, {h}, {sh}, r);
    int sum = batched(g, "Σx+Σh", 1);
    g.add_node(OpType::binary, {sx, sh}, {sum});
    return sum;
  }
  return g.add_param(bc == Broadcast::row ? "v" : "s", {bc == Broadcast::row ? 3 : 1});
}

// Each binary op under each broadcast, then broadcast and a reduction over rows.
inline std::vector<GraphCase> binary_graph_cases() {
  using namespace detail;
  std::vector<GraphCase> cases;
  for (BinaryOp op : {BinaryOp::add, BinaryOp::sub, BinaryOp::mul})
    for (Broadcast bc : {Broadcast::none, Broadcast::row, Broadcast::col, Broadcast::scalar})
      cases.push_back({std::string("binary(") + binary_op_name(op) + "," + broadcast_name(bc) + ")", [op, bc] {
                         return with_code(1.0, [op, bc](Graph& g, int h, int x) {
                           Attrs a;
                           a.binary = op;
                           a.bcast = bc;
                           int y = batched(g, "h∘b", 3);
                           g.add_node(OpType::binary, {h, binary_operand(g, bc, h, x)}, {y}, a);
                           mean_term(g, y, "penalty", 0.4);
                         });
                       }});
  cases.push_back({"broadcast+reduce(rows)", [] {
                     return with_code(1.0, [](Graph& g, int h, int) {
                       // mean over the batch of h (reduce rows), spread back (broadcast row), times h.
                       int m = g.add_tensor(fixed_tensor("mean_b(h)", TensorRole::activation, {3}));
                       Attrs r;
                       r.axis = ReduceAxis::rows;
                       r.mean = true;
                       g.add_node(OpType::reduce, {h}, {m}, r);
                       int sp = batched(g, "spread", 3);
                       Attrs b;
                       b.bcast = Broadcast::row;
                       b.scale = 2.0;
                       g.add_node(OpType::broadcast, {m}, {sp}, b);
                       int y = batched(g, "h*spread", 3);
                       Attrs mul;
                       mul.binary = BinaryOp::mul;
                       g.add_node(OpType::binary, {h, sp}, {y}, mul);
                       mean_term(g, y, "penalty", 0.5);
                     });
                   }});
  return cases;
}

inline std::vector<GraphCase> graph_cases() {
  std::vector<GraphCase> all;
  for (auto part : {spec_graph_cases(), structural_graph_cases(), unary_graph_cases(), binary_graph_cases()})
    all.insert(all.end(), part.begin(), part.end());
  return all;
}

}  // namespace ae::test
