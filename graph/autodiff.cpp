// Static reverse-mode autodiff over the IR. Each forward OpType has one backward rule that
// emits primitive backward nodes; gradients reaching a tensor from several consumers are summed
// with `add` nodes (tied weights, skip connections). Lowering fuses what this emits.
#include <functional>
#include <map>

#include "graph/build.h"
#include "kernels/common/error.h"

namespace ae {

namespace {

struct Autodiff {
  Graph& g;
  std::map<int, int> grad;  // tensor id → gradient tensor id

  int new_grad_like(int t, const std::string& suffix) {
    const Tensor& src = g.tensors[t];
    Tensor d = src;
    d.name = "d(" + src.name + ")" + suffix;
    d.role = src.role == TensorRole::param ? TensorRole::param_grad : TensorRole::gradient;
    return g.add_tensor(d);
  }

  // Routes a freshly computed gradient contribution `d` of tensor t into grad[t].
  void accumulate(int t, int d, int layer) {
    auto it = grad.find(t);
    if (it == grad.end()) {
      grad[t] = d;
      return;
    }
    int sum = new_grad_like(t, "+");
    g.add_node(Node{OpType::add, {it->second, d}, {sum}, Act::linear, Loss::mse, layer});
    it->second = sum;
  }

  bool needs_grad(int t) const {
    const Tensor& x = g.tensors[t];
    return x.role != TensorRole::input;
  }

  void backward(const Node& n) {
    auto dy = [&](int i) { return grad.at(n.out[i]); };
    switch (n.type) {
      case OpType::loss: {
        int y = n.in[0];
        int d = new_grad_like(y, "");
        g.add_node(Node{OpType::loss_grad, {n.in[0], n.in[1]}, {d}, Act::linear, n.loss, n.layer});
        accumulate(y, d, n.layer);
        break;
      }
      case OpType::activation: {
        int x = n.in[0];
        int d = new_grad_like(x, "");
        g.add_node(Node{OpType::activation_grad, {dy(0), x, n.out[0]}, {d}, n.act, Loss::mse, n.layer});
        accumulate(x, d, n.layer);
        break;
      }
      case OpType::bias_add: {
        int b = n.in[1];
        int db = new_grad_like(b, "");
        g.add_node(Node{OpType::bias_grad, {dy(0)}, {db}, Act::linear, Loss::mse, n.layer});
        accumulate(b, db, n.layer);
        // the gradient passes through to x unchanged: share the tensor, no node
        accumulate(n.in[0], dy(0), n.layer);
        break;
      }
      case OpType::matmul_wt: {
        int x = n.in[0], w = n.in[1];
        int dw = new_grad_like(w, "");
        g.add_node(Node{OpType::matmul_wt_grad_w, {dy(0), x}, {dw}, Act::linear, Loss::mse, n.layer});
        accumulate(w, dw, n.layer);
        if (needs_grad(x)) {
          int dx = new_grad_like(x, "");
          g.add_node(Node{OpType::matmul_wt_grad_x, {dy(0), w}, {dx}, Act::linear, Loss::mse, n.layer});
          accumulate(x, dx, n.layer);
        }
        break;
      }
      default:
        AE_FAIL("autodiff: no backward rule for op ", op_type_name(n.type));
    }
  }
};

}  // namespace

void append_backward(Graph& g) {
  AE_CHECK(g.loss >= 0, "autodiff needs a scalar loss");
  Autodiff ad{g, {}};
  int n_forward = int(g.nodes.size());
  // The loss node is seeded implicitly: its backward rule produces ∂L/∂y directly.
  for (int i = n_forward - 1; i >= 0; --i) {
    Node n = g.nodes[i];  // copy: add_node may reallocate
    bool reached = n.type == OpType::loss;
    for (int o : n.out) reached = reached || ad.grad.count(o);
    if (reached) ad.backward(n);
  }
  for (auto& p : g.params) {
    auto it = ad.grad.find(p.tensor);
    AE_CHECK(it != ad.grad.end(), "autodiff: parameter ", p.name, " does not influence the loss");
    p.grad = it->second;
    g.tensors[p.grad].name = "grad." + p.name;
  }
  for (const auto& p : g.params)
    g.add_node(Node{OpType::optimizer_update, {p.tensor, p.grad}, {p.tensor}, Act::linear, Loss::mse, -1});
}

}  // namespace ae
