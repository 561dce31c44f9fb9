// Lowering: the IR's primitive nodes are fused into Plan ops by a table of patterns. Nodes are
// visited in order; at each node not yet taken, the rules are tried in table order and the first
// that matches emits one PlanOp and takes its nodes. A node no rule takes is an error, so a new
// primitive cannot silently go unexecuted.
#include <algorithm>
#include <functional>

#include "graph/plan.h"
#include "kernels/common/error.h"

namespace ae {

namespace {

struct Lowering {
  const Graph& g;
  std::vector<bool> taken;
  std::vector<PlanOp> ops;

  // The single node of `type` reading tensor t at input position `pos`, not yet taken, or -1.
  int consumer_of(int t, OpType type, int pos = -1) const {
    for (int c : g.consumers(t)) {
      const Node& n = g.nodes[c];
      if (n.type != type || taken[c]) continue;
      if (pos >= 0 && (int(n.in.size()) <= pos || n.in[pos] != t)) continue;
      return c;
    }
    return -1;
  }
  bool only_consumed_by(int t, std::initializer_list<OpType> types) const {
    for (int c : g.consumers(t))
      if (std::find(types.begin(), types.end(), g.nodes[c].type) == types.end()) return false;
    return !g.consumers(t).empty();
  }
  bool is_output(int t) const {
    return std::find(g.outputs.begin(), g.outputs.end(), t) != g.outputs.end();
  }
  // A sigmoid output fed only to a bce loss is never materialised: the loss reads the logits.
  bool sigmoid_into_bce(int act_node) const {
    const Node& a = g.nodes[act_node];
    if (a.type != OpType::activation || a.act != Act::sigmoid || is_output(a.out[0])) return false;
    for (int c : g.consumers(a.out[0])) {
      const Node& n = g.nodes[c];
      if (n.type == OpType::activation_grad) continue;  // absorbed by the loss rule
      if ((n.type != OpType::loss && n.type != OpType::loss_grad) || n.loss != Loss::bce) return false;
    }
    return true;
  }
  void take(PlanOp& op, std::initializer_list<int> nodes) {
    for (int n : nodes)
      if (n >= 0) {
        taken[n] = true;
        op.fused_nodes.push_back(n);
      }
  }
};

using Rule = bool (*)(Lowering&, int node);

// matmul_wt → bias_add → [activation]  ⇒  dense_fwd
bool rule_dense_fwd(Lowering& L, int i) {
  const Node& mm = L.g.nodes[i];
  if (mm.type != OpType::matmul_wt) return false;
  int ba = L.consumer_of(mm.out[0], OpType::bias_add, 0);
  if (ba < 0 || L.g.consumers(mm.out[0]).size() != 1) return false;
  int z = L.g.nodes[ba].out[0];
  int act = L.consumer_of(z, OpType::activation, 0);
  PlanOp op{PlanOpKind::dense_fwd, "matmul_wt+bias_add+activation"};
  op.layer = mm.layer;
  op.n = L.g.tensors[mm.in[1]].rows;
  op.k = L.g.tensors[mm.in[1]].cols;
  op.in = {mm.in[0], mm.in[1], L.g.nodes[ba].in[1]};
  if (act < 0) {
    op.rule = "matmul_wt+bias_add";
    op.out = {z, -1};
  } else if (L.sigmoid_into_bce(act)) {
    op.rule = "matmul_wt+bias_add (sigmoid moved into bce-with-logits)";
    op.out = {z, -1};
    L.taken[act] = true;
    op.fused_nodes.push_back(act);
  } else {
    const Node& a = L.g.nodes[act];
    op.act = a.act;
    // z is kept only when the backward needs it (gelu) or someone else reads it.
    bool keep_z = L.g.consumers(z).size() > 1 &&
                  (act_derivative_needs_z(a.act) || !L.only_consumed_by(z, {OpType::activation, OpType::activation_grad}));
    op.out = {a.out[0], keep_z ? z : -1};
    L.take(op, {act});
  }
  L.take(op, {i, ba});
  L.ops.push_back(op);
  return true;
}

// loss [+ loss_grad [+ activation_grad of the output layer]]  ⇒  loss_fwd or loss_fwd_bwd
bool rule_loss(Lowering& L, int i) {
  const Node& ln = L.g.nodes[i];
  if (ln.type != OpType::loss) return false;
  int y = ln.in[0], t = ln.in[1];
  int yprod = L.g.producer(y);
  bool logits = yprod >= 0 && L.sigmoid_into_bce(yprod);
  int pred = logits ? L.g.nodes[yprod].in[0] : y;
  PlanOp op{PlanOpKind::loss_fwd, logits ? "loss(bce, from logits)" : "loss"};
  op.loss = ln.loss;
  op.from_logits = logits;
  op.layer = ln.layer;
  op.n = L.g.tensors[y].cols;
  int lg = L.consumer_of(y, OpType::loss_grad, 0);
  if (lg < 0) {
    op.in = {pred, t};
    op.out = {ln.out[0], ln.out[1]};
    L.take(op, {i});
    L.ops.push_back(op);
    return true;
  }
  op.kind = PlanOpKind::loss_fwd_bwd;
  int dy = L.g.nodes[lg].out[0];
  int ag = (yprod >= 0 && L.g.nodes[yprod].type == OpType::activation) ? L.consumer_of(dy, OpType::activation_grad, 0) : -1;
  // The loss pass sees only the prediction y: it absorbs act′ when act′ is a function of y. One that
  // needs z (gelu) stays with the output layer's dense_bwd, which applies it from z while loading dy.
  if (ag >= 0 && !logits && act_derivative_needs_z(L.g.nodes[yprod].act)) ag = -1;
  if (ag >= 0 && L.g.consumers(dy).size() == 1) {
    // ∂L/∂z of the output layer directly: the dense backward of that layer then applies no act′.
    const Node& a = L.g.nodes[yprod];
    op.act = logits ? Act::linear : a.act;
    op.in = {pred, t};
    op.out = {ln.out[0], ln.out[1], L.g.nodes[ag].out[0]};
    op.inplace = {2, 0};  // ∂L/∂z over the prediction, element by element
    op.rule = logits ? "loss(bce)+loss_grad+sigmoid_grad ⇒ bce-with-logits" : "loss+loss_grad+activation_grad";
    L.take(op, {i, lg, ag});
  } else {
    op.in = {pred, t};
    op.out = {ln.out[0], ln.out[1], dy};
    op.inplace = {2, 0};
    op.rule = "loss+loss_grad";
    L.take(op, {i, lg});
  }
  L.ops.push_back(op);
  return true;
}

// [activation_grad] → bias_grad, matmul_wt_grad_w, [matmul_wt_grad_x] on the same dz  ⇒  dense_bwd
bool rule_dense_bwd(Lowering& L, int i) {
  const Node& first = L.g.nodes[i];
  int ag = -1, dz = -1;
  if (first.type == OpType::activation_grad) {
    ag = i;
    dz = first.out[0];
  } else if (first.type == OpType::bias_grad) {
    dz = first.in[0];
  } else {
    return false;
  }
  int bg = L.consumer_of(dz, OpType::bias_grad, 0);
  int gw = L.consumer_of(dz, OpType::matmul_wt_grad_w, 0);
  int gx = L.consumer_of(dz, OpType::matmul_wt_grad_x, 0);
  if (bg < 0 || gw < 0) return false;
  // dz is overwritten in place by the kernel: nobody else may read it.
  size_t readers = 2 + (gx >= 0 ? 1 : 0);
  if (L.g.consumers(dz).size() != readers) return false;
  PlanOp op{PlanOpKind::dense_bwd, "bias_grad+matmul_wt_grad_w+matmul_wt_grad_x"};
  const Node& w = L.g.nodes[gw];
  int x = w.in[1];
  int W = gx >= 0 ? L.g.nodes[gx].in[1] : -1;
  int dW = w.out[0];
  // W's tensor: find it through the param whose gradient is dW (grad_w does not read W itself).
  if (W < 0)
    for (const auto& p : L.g.params)
      if (p.grad == dW) W = p.tensor;
  op.n = L.g.tensors[dz].cols;
  op.k = L.g.tensors[x].cols;
  op.layer = w.layer;
  if (ag >= 0) {
    const Node& a = L.g.nodes[ag];  // in {dy, z, y}
    op.act = a.act;
    op.rule = "activation_grad+" + op.rule;
    bool z_needed = act_derivative_needs_z(a.act);
    op.in = {a.in[0], z_needed ? -1 : a.in[2], z_needed ? a.in[1] : -1, x, W};
  } else {
    op.in = {dz, -1, -1, x, W};
  }
  op.out = {dW, L.g.nodes[bg].out[0], gx >= 0 ? L.g.nodes[gx].out[0] : -1};
  L.take(op, {ag, bg, gw, gx});
  L.ops.push_back(op);
  return true;
}

// every optimizer_update  ⇒  one multi-tensor optimizer_step
bool rule_optimizer(Lowering& L, int i) {
  if (L.g.nodes[i].type != OpType::optimizer_update) return false;
  PlanOp op{PlanOpKind::optimizer_step, "optimizer_update × all params"};
  for (int j = i; j < int(L.g.nodes.size()); ++j)
    if (L.g.nodes[j].type == OpType::optimizer_update && !L.taken[j]) {
      op.in.push_back(L.g.nodes[j].in[0]);
      op.in.push_back(L.g.nodes[j].in[1]);
      L.take(op, {j});
    }
  L.ops.push_back(op);
  return true;
}

bool rule_add(Lowering& L, int i) {
  const Node& n = L.g.nodes[i];
  if (n.type != OpType::add) return false;
  PlanOp op{PlanOpKind::add, "add"};
  op.in = n.in;
  op.out = n.out;
  L.take(op, {i});
  L.ops.push_back(op);
  return true;
}

// The fusion table: tried in this order at every node not yet taken.
constexpr Rule RULES[] = {rule_dense_fwd, rule_loss, rule_dense_bwd, rule_optimizer, rule_add};

}  // namespace

std::vector<PlanOp> lower(const Graph& g) {
  Lowering L{g, std::vector<bool>(g.nodes.size(), false), {}};
  for (int i = 0; i < int(g.nodes.size()); ++i) {
    if (L.taken[i]) continue;
    bool matched = false;
    for (Rule r : RULES)
      if ((matched = r(L, i))) break;
    if (!matched) AE_FAIL("lowering: no fusion rule or kernel for IR node ", i, " (", op_type_name(g.nodes[i].type), ")");
  }
  return L.ops;
}

}  // namespace ae
