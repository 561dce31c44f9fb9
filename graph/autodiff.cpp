// Static reverse-mode autodiff over the IR. Each forward OpType has one backward rule that emits
// primitive nodes (often other forward kinds: the gradient of square is a scale and a mul). Each
// objective term is seeded with its weight. Gradients reaching an activation from several consumers
// are summed with `add` nodes; contributions to a parameter used by several nodes (tied weights)
// are written into its one gradient buffer — the first writer in node order overwrites, each later
// one accumulates (Attrs::accumulate) — so the result is deterministic and needs no extra memory.
#include <algorithm>
#include <map>
#include <set>

#include "graph/build.h"
#include "kernels/common/error.h"

namespace ae {

namespace {

struct Autodiff {
  Graph& g;
  std::map<int, int> grad;           // tensor id → gradient tensor id
  std::map<int, double> seed;        // term tensor id → its weight, until a rule needs it as a tensor
  std::map<int, int64_t> ramp;       // term tensor id → its weight's warm-up steps (Term::ramp)
  std::set<int> differentiable;      // tensors that depend on a parameter
  std::map<int, int> param_writes;   // param index → gradient contributions so far

  int new_grad_like(int t, const std::string& suffix) {
    const Tensor& src = g.tensors[size_t(t)];
    Tensor d = src;
    d.name = "d(" + src.name + ")" + suffix;
    d.role = src.role == TensorRole::param ? TensorRole::param_grad : TensorRole::gradient;
    return g.add_tensor(d);
  }
  int temp_like(int t, const std::string& what) {
    Tensor d = g.tensors[size_t(t)];
    d.name = what + "(" + d.name + ")";
    d.role = TensorRole::gradient;
    d.param = -1;
    return g.add_tensor(d);
  }

  // Emits the node computing a gradient contribution of tensor t, then routes it into grad[t]. For
  // a parameter the node writes the parameter's gradient buffer directly (accumulating after the
  // first); for anything else a second contribution is summed by an add node.
  void contribute(int t, OpType type, std::vector<int> in, Attrs attr, int layer, const std::string& suffix = "") {
    int d = new_grad_like(t, suffix);
    const Tensor& x = g.tensors[size_t(t)];
    if (x.role == TensorRole::param) attr.accumulate = param_writes[x.param]++ > 0;
    g.add_node(type, std::move(in), {d}, attr, layer);
    if (x.role == TensorRole::param) {
      if (!grad.count(t)) grad[t] = d;  // the first writer's tensor names the buffer
      return;
    }
    accumulate(t, d, layer);
  }
  void accumulate(int t, int d, int layer) {
    if (g.tensors[size_t(t)].role == TensorRole::param) return contribute(t, OpType::unary, {d}, {}, layer);
    auto it = grad.find(t);
    if (it == grad.end()) {
      grad[t] = d;
      return;
    }
    int sum = new_grad_like(t, "+");
    g.add_node(OpType::add, {it->second, d}, {sum}, {}, layer);
    it->second = sum;
  }

  bool needs_grad(int t) const { return differentiable.count(t) > 0; }

  // The gradient of output t as a tensor, once every consumer of t has contributed (reverse
  // order guarantees it when t's producer asks): a term's seed becomes a fill node, summed with the
  // contributions of t's other readers when the term's tensor also feeds later nodes.
  int dy(int t, int layer) {
    auto s = seed.find(t);
    if (s != seed.end()) {
      int d = new_grad_like(t, "");
      Attrs a;
      a.scale = s->second;
      a.ramp = ramp.count(t) ? ramp.at(t) : 0;
      g.add_node(OpType::fill, {}, {d}, a, layer);
      seed.erase(s);
      accumulate(t, d, layer);
    }
    auto it = grad.find(t);
    AE_CHECK(it != grad.end(), "autodiff: tensor ", g.tensors[size_t(t)].name, " has no gradient");
    return it->second;
  }

  void backward_loss(const Node& n) {
    auto s = seed.find(n.out[0]);
    AE_CHECK(s != seed.end() && !grad.count(n.out[0]), "autodiff: a loss must be an objective term of its own");
    AE_CHECK(!needs_grad(n.in[1]), "autodiff: the target of loss ", g.tensors[size_t(n.out[0])].name,
             " depends on a parameter; a loss is differentiated with respect to its prediction only");
    int y = n.in[0];
    if (!needs_grad(y)) return;
    if (s->second == 1.0) {
      contribute(y, OpType::loss_grad, {n.in[0], n.in[1]}, n.attr, n.layer);
      return;
    }
    int d = temp_like(y, "dloss");
    g.add_node(OpType::loss_grad, {n.in[0], n.in[1]}, {d}, n.attr, n.layer);
    Attrs a;
    a.unary = UnaryOp::scale;
    a.scale = s->second;
    contribute(y, OpType::unary, {d}, a, n.layer);
  }

  void backward_unary(const Node& n, int d) {
    const int x = n.in[0];
    if (!needs_grad(x)) return;
    Attrs mul;
    mul.binary = BinaryOp::mul;
    Attrs u;
    switch (n.attr.unary) {
      case UnaryOp::scale:
        u.scale = n.attr.scale;
        return contribute(x, OpType::unary, {d}, u, n.layer);
      case UnaryOp::exp:  // d(α·eˣ)/dx = y
        return contribute(x, OpType::binary, {d, n.out[0]}, mul, n.layer);
      case UnaryOp::square:  // 2α·x
      case UnaryOp::abs: {   // α·sign(x)
        u.unary = n.attr.unary == UnaryOp::square ? UnaryOp::scale : UnaryOp::sign;
        u.scale = n.attr.unary == UnaryOp::square ? 2.0 * n.attr.scale : n.attr.scale;
        int t = temp_like(x, unary_op_name(n.attr.unary) + std::string("'"));
        g.add_node(OpType::unary, {x}, {t}, u, n.layer);
        return contribute(x, OpType::binary, {d, t}, mul, n.layer);
      }
      case UnaryOp::sign:
        return;  // zero almost everywhere
      case UnaryOp::log: {  // α/x
        u.unary = UnaryOp::recip;
        u.scale = n.attr.scale;
        int t = temp_like(x, "1/x");
        g.add_node(OpType::unary, {x}, {t}, u, n.layer);
        return contribute(x, OpType::binary, {d, t}, mul, n.layer);
      }
      case UnaryOp::recip: {  // −α/x² = −α·(1/x)², from the output: (y/α)²·(−α) = −y²/α
        Attrs sq;
        sq.unary = UnaryOp::square;
        sq.scale = n.attr.scale == 0 ? 0.0 : -1.0 / n.attr.scale;
        int t = temp_like(x, "-1/x²");
        g.add_node(OpType::unary, {n.out[0]}, {t}, sq, n.layer);
        return contribute(x, OpType::binary, {d, t}, mul, n.layer);
      }
    }
  }

  void backward_binary(const Node& n, int d) {
    const int a = n.in[0], b = n.in[1];
    const Broadcast bc = n.attr.bcast;
    const BinaryOp op = n.attr.binary;
    Attrs mul;
    mul.binary = BinaryOp::mul;
    mul.bcast = bc;
    if (needs_grad(a)) {
      if (op == BinaryOp::mul) contribute(a, OpType::binary, {d, b}, mul, n.layer);
      else accumulate(a, d, n.layer);  // add, sub: da = dy, the same tensor
    }
    if (!needs_grad(b)) return;
    int src = d;  // ∂/∂b before the broadcast is undone
    if (op == BinaryOp::mul) {
      src = temp_like(a, "dy*a");
      mul.bcast = Broadcast::none;
      g.add_node(OpType::binary, {d, a}, {src}, mul, n.layer);
    }
    Attrs r;
    r.scale = op == BinaryOp::sub ? -1.0 : 1.0;
    if (bc == Broadcast::none) {
      if (src == d && r.scale == 1.0) return accumulate(b, d, n.layer);
      r.unary = UnaryOp::scale;
      return contribute(b, OpType::unary, {src}, r, n.layer);
    }
    r.axis = adjoint_axis(bc);
    contribute(b, OpType::reduce, {src}, r, n.layer);
  }

  void backward(const Node& n) {
    switch (n.type) {
      case OpType::loss: return backward_loss(n);
      case OpType::activation: {
        if (!needs_grad(n.in[0])) return;
        Attrs a;
        a.act = n.attr.act;
        return contribute(n.in[0], OpType::activation_grad, {dy(n.out[0], n.layer), n.in[0], n.out[0]}, a, n.layer);
      }
      case OpType::activation_grad: {  // dx = dy ⊙ act′(z): ∂/∂dy = act′(z), ∂/∂z = dy ⊙ act″(z)
        const int dy_in = n.in[0], z = n.in[1];
        if (!needs_grad(dy_in) && !needs_grad(z)) return;
        const int d = dy(n.out[0], n.layer);
        Attrs a;
        a.act = n.attr.act;
        if (needs_grad(dy_in)) contribute(dy_in, OpType::activation_grad, {d, n.in[1], n.in[2]}, a, n.layer);
        if (needs_grad(z) && act_has_curvature(n.attr.act)) {
          Attrs mul;
          mul.binary = BinaryOp::mul;
          const int t = temp_like(z, "d*dy");
          g.add_node(OpType::binary, {d, dy_in}, {t}, mul, n.layer);
          contribute(z, OpType::activation_grad2, {t, z}, a, n.layer);
        }
        return;
      }
      case OpType::bias_add: {
        if (!needs_grad(n.in[0]) && !needs_grad(n.in[1])) return;
        int d = dy(n.out[0], n.layer);
        Attrs bg;
        bg.bcast = n.attr.bcast;  // a convolution's per-channel bias sums per channel
        if (needs_grad(n.in[1])) contribute(n.in[1], OpType::bias_grad, {d}, bg, n.layer);
        if (needs_grad(n.in[0])) accumulate(n.in[0], d, n.layer);  // passes through unchanged: share the tensor
        return;
      }
      case OpType::linear: {
        if (!needs_grad(n.in[0]) && !needs_grad(n.in[1])) return;
        int d = dy(n.out[0], n.layer);
        const int x = n.in[0], w = n.in[1];
        Attrs a;
        a.trans_w = n.attr.trans_w;
        if (needs_grad(w)) contribute(w, OpType::linear_grad_w, {d, x}, a, n.layer);
        if (needs_grad(x)) contribute(x, OpType::linear_grad_x, {d, w}, a, n.layer);
        return;
      }
      case OpType::conv2d: {  // both gradients are convolutions of dy: with W (data), with x (weights)
        if (!needs_grad(n.in[0]) && !needs_grad(n.in[1])) return;
        const int d = dy(n.out[0], n.layer), x = n.in[0], w = n.in[1];
        if (needs_grad(w)) contribute(w, OpType::conv2d_grad_w, {d, x}, n.attr, n.layer);
        if (needs_grad(x)) contribute(x, OpType::conv2d_grad_x, {d, w}, n.attr, n.layer);
        return;
      }
      case OpType::pool: {  // a max pool's gradient finds each window's argmax in x again
        if (!needs_grad(n.in[0])) return;
        const int d = dy(n.out[0], n.layer);
        if (n.attr.pool_kind == PoolKind::max) return contribute(n.in[0], OpType::pool_grad, {d, n.in[0]}, n.attr, n.layer);
        return contribute(n.in[0], OpType::pool_grad, {d}, n.attr, n.layer);
      }
      case OpType::unary:
        if (!needs_grad(n.in[0]) || n.attr.unary == UnaryOp::sign) return;
        return backward_unary(n, dy(n.out[0], n.layer));
      case OpType::binary:
        if (!needs_grad(n.in[0]) && !needs_grad(n.in[1])) return;
        return backward_binary(n, dy(n.out[0], n.layer));
      case OpType::reduce: {
        if (!needs_grad(n.in[0])) return;
        Attrs a = n.attr;
        a.bcast = adjoint_broadcast(n.attr.axis);
        return contribute(n.in[0], OpType::broadcast, {dy(n.out[0], n.layer)}, a, n.layer);
      }
      case OpType::broadcast: {
        if (!needs_grad(n.in[0])) return;
        Attrs a = n.attr;
        a.axis = adjoint_axis(n.attr.bcast);
        return contribute(n.in[0], OpType::reduce, {dy(n.out[0], n.layer)}, a, n.layer);
      }
      case OpType::sparsity: {  // the column sums are an aid to the gradient, not a function anyone differentiates
        if (!needs_grad(n.in[0])) return;
        Attrs a;
        a.sparsity = n.attr.sparsity;
        return contribute(n.in[0], OpType::sparsity_grad, {dy(n.out[0], n.layer), n.in[0], n.out[1]}, a, n.layer);
      }
      case OpType::contractive: {  // value(z, W): z's path and W's own (through the row norms)
        const int z = n.in[0], w = n.in[1];
        if (!needs_grad(z) && !needs_grad(w)) return;
        const int d = dy(n.out[0], n.layer);
        Attrs a;
        a.act = n.attr.act;
        if (needs_grad(z)) contribute(z, OpType::contractive_grad, {d, z, n.out[2]}, a, n.layer);
        if (needs_grad(w)) contribute(w, OpType::contractive_grad_w, {d, w, n.out[1]}, {}, n.layer);
        return;
      }
      case OpType::reparam: {  // z and the mean KL from h = μ ‖ log σ²: one backward op for both paths
        const int h = n.in[0];
        if (!needs_grad(h)) return;
        AE_CHECK(n.attr.vae.sample && !n.attr.vae.sampled_kl, "autodiff: only a sampled reparam with the closed-form KL trains");
        AE_CHECK(!grad.count(n.out[2]), "autodiff: the per-row KL ", g.tensors[size_t(n.out[2])].name, " is not differentiated");
        AE_CHECK(grad.count(n.out[0]) && (seed.count(n.out[1]) || grad.count(n.out[1])),
                 "autodiff: a VAE's code must reach the reconstruction and its KL must be an objective term");
        const int dz = dy(n.out[0], n.layer), dkl = dy(n.out[1], n.layer);
        return contribute(h, OpType::reparam_grad, {dz, h, dkl}, n.attr, n.layer);
      }
      case OpType::noise:  // corruption is applied to data, never to something a parameter produced
        AE_CHECK(!needs_grad(n.in[0]), "autodiff: noise on ", g.tensors[size_t(n.in[0])].name,
                 ", which depends on a parameter; ae corrupts only inputs and passes no gradient through noise");
        return;
      case OpType::stop_gradient:
      case OpType::fill:
      case OpType::prior:  // data drawn afresh each step: nothing to differentiate
        return;
      default:
        AE_FAIL("autodiff: no backward rule for op ", op_type_name(n.type));
    }
  }
};

}  // namespace

void append_backward(Graph& g, const std::vector<int>& groups) {
  AE_CHECK(!g.terms.empty(), "autodiff needs an objective: at least one term");
  Autodiff ad{g, {}, {}, {}, {}};
  const int n_forward = int(g.nodes.size());
  g.backward_begin = n_forward;
  auto trained = [&](const Param& p) { return groups.empty() || std::find(groups.begin(), groups.end(), p.group) != groups.end(); };
  for (const Param& p : g.params)
    if (trained(p)) ad.differentiable.insert(p.tensor);
  for (int i = 0; i < n_forward; ++i) {
    const Node& n = g.nodes[size_t(i)];
    if (n.type == OpType::stop_gradient) continue;
    bool dep = false;
    for (int t : n.in) dep = dep || ad.differentiable.count(t);
    if (dep)
      for (int t : n.out) ad.differentiable.insert(t);
  }
  for (const Term& t : g.terms) {
    AE_CHECK(!ad.seed.count(t.tensor), "autodiff: tensor ", g.tensors[size_t(t.tensor)].name, " is two terms");
    ad.seed[t.tensor] = t.weight;
    if (t.ramp > 0) ad.ramp[t.tensor] = t.ramp;
  }
  for (int i = n_forward - 1; i >= 0; --i) {
    Node n = g.nodes[size_t(i)];  // copy: add_node may reallocate
    bool reached = false;
    for (int o : n.out) reached = reached || ad.grad.count(o) || ad.seed.count(o);
    if (n.type == OpType::loss && ad.grad.count(n.out[0])) AE_FAIL("autodiff: loss ", g.tensors[size_t(n.out[0])].name, " feeds other nodes; a loss must be an objective term of its own");
    if (!reached) continue;
    const size_t first = g.nodes.size();
    ad.backward(n);
    for (size_t k = first; k < g.nodes.size(); ++k) g.nodes[k].term = n.term;  // a penalty's gradient is its cost too
  }
  for (auto& p : g.params) {
    if (!trained(p)) continue;
    auto it = ad.grad.find(p.tensor);
    AE_CHECK(it != ad.grad.end(), "autodiff: parameter ", p.name, " does not influence the objective");
    p.grad = it->second;
    g.tensors[size_t(p.grad)].name = "grad." + p.name;
  }
  for (const auto& p : g.params) {
    if (p.grad < 0) continue;
    Attrs a;
    a.group = p.group;
    g.add_node(OpType::optimizer_update, {p.tensor, p.grad}, {p.tensor}, a);
  }
}

}  // namespace ae
