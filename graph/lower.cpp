// Lowering: the IR's primitive nodes are fused into Plan ops by a table of patterns. Nodes are
// visited in order; at each node not yet taken, the rules are tried in table order and the first
// that matches emits one PlanOp and takes its nodes. The last rule gives any primitive its own
// unfused op, so a new node kind runs everywhere before it is fused; `fuse = false` lowers every
// node that way (the fused-vs-unfused equality test). A node nothing takes is an error.
#include <algorithm>
#include <functional>
#include <optional>
#include <set>

#include "graph/plan.h"
#include "kernels/common/error.h"

namespace ae {

namespace {

struct Lowering {
  const Graph& g;
  std::vector<bool> taken;
  std::vector<PlanOp> ops;
  bool fuse = true;  // false: the loss absorbs no activation either
  bool regenerate_noise = true;  // a corruption read only by GEMMs is recomputed as they load x
  bool sparsity_on_load = true;     // a sparsity penalty's gradient is added as the code layer's dense_bwd loads dy
  bool contractive_on_load = true;  // a one-layer contractive penalty's ∂/∂z likewise, after act′
  std::set<int> regenerated;     // noise nodes taken that way: their output has no producer op
  std::set<int> deferred;        // sparsity_grad / contractive_grad and their adds, taken ahead for the code layer's dense_bwd
  std::set<int> absorbed;        // the deferred nodes a dense_bwd did take in

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
  // A sigmoid output fed only to a bce loss is never materialised: the loss reads the logits. Its
  // backward must then be exactly what rule_loss absorbs: an activation_grad whose dy is the
  // loss_grad's output and is read by nothing else (a weighted loss puts a scale in between).
  bool sigmoid_into_bce(int act_node) const {
    const Node& a = g.nodes[act_node];
    if (!fuse || a.type != OpType::activation || a.attr.act != Act::sigmoid || is_output(a.out[0])) return false;
    for (int c : g.consumers(a.out[0])) {
      const Node& n = g.nodes[c];
      if (n.type == OpType::activation_grad) {
        const int lg = g.producer(n.in[0]);
        if (lg < 0 || g.nodes[size_t(lg)].type != OpType::loss_grad || g.consumers(n.in[0]).size() != 1) return false;
        continue;  // absorbed by the loss rule
      }
      if ((n.type != OpType::loss && n.type != OpType::loss_grad) || n.attr.loss != Loss::bce) return false;
    }
    return true;
  }
  // x as the GEMM of a fused op loads it: a regenerated corruption's clean input, with its noise
  // set on the op. Returns the tensor the op reads.
  int load_through_noise(PlanOp& op, int x) {
    const int np = g.producer(x);
    if (np < 0 || !regenerated.count(np)) return x;
    op.attr.noise = g.nodes[size_t(np)].attr.noise;
    op.rule += " + corruption on x's load";
    op.fused_nodes.push_back(np);
    return g.nodes[size_t(np)].in[0];
  }
  // dy as the code layer's dense_bwd loads it: when dy is the deferred sum of the reconstruction's
  // gradient and the penalty's, the op reads the former and adds the latter from h and the column
  // sums (attr.sparsity; in {…, h, colsum, dvalue}). Returns the tensor the op reads as dy.
  int load_through_penalty(PlanOp& op, int dy) {
    const int sum = g.producer(dy);
    if (sum < 0 || !deferred.count(sum) || g.nodes[size_t(sum)].type != OpType::add) return dy;
    const Node& add = g.nodes[size_t(sum)];
    const int side = deferred.count(g.producer(add.in[0])) ? 0 : 1;  // the penalty's input
    const int sg = g.producer(add.in[side]), recon = add.in[1 - side];
    if (g.nodes[size_t(sg)].type != OpType::sparsity_grad || g.consumers(recon).size() != 1) return dy;  // dz is written over dy (cpu): it must die here
    const Node& grad = g.nodes[size_t(sg)];  // in {dvalue, h, colsum}
    op.attr.sparsity = grad.attr.sparsity;
    op.in.insert(op.in.end(), {grad.in[1], grad.in[2], grad.in[0]});
    op.rule += " + the code penalty's gradient on dy's load";
    op.fused_nodes.push_back(sum);
    op.fused_nodes.push_back(sg);
    absorbed.insert({sum, sg});
    return recon;
  }
  // The add summing a one-layer encoder's z gradient (from dz) with its deferred contractive
  // penalty's, or -1: dz's only reader, whether already taken ahead (it follows a bias_grad-first
  // pattern's dz) or not yet visited (it follows the activation_grad that wrote dz).
  // `act` is the activation the op applies: the penalty's a′ and a″ must be of that same one.
  int z_penalty_sum(int dz, Act act) const {
    if (!contractive_on_load) return -1;
    const std::vector<int> readers = g.consumers(dz);
    if (readers.size() != 1) return -1;
    const int s = readers[0];
    const Node& add = g.nodes[size_t(s)];
    if (add.type != OpType::add || (taken[size_t(s)] && !deferred.count(s))) return -1;
    const int pg = g.producer(add.in[0] == dz ? add.in[1] : add.in[0]);
    if (pg < 0 || !deferred.count(pg) || g.nodes[size_t(pg)].type != OpType::contractive_grad) return -1;
    return g.nodes[size_t(pg)].attr.act == act ? s : -1;
  }
  // Takes the z-penalty sum `s` into a dense_bwd op: in {…, z, norms, dvalue}.
  void absorb_z_penalty(PlanOp& op, int s, int dz) {
    const Node& add = g.nodes[size_t(s)];
    const int pg = g.producer(add.in[0] == dz ? add.in[1] : add.in[0]);
    const Node& grad = g.nodes[size_t(pg)];  // in {dvalue, z, norms}
    op.z_penalty = true;
    op.in.insert(op.in.end(), {grad.in[1], grad.in[2], grad.in[0]});
    op.rule += " + the contractive penalty's gradient on dz";
    taken[size_t(s)] = true;
    op.fused_nodes.push_back(s);
    op.fused_nodes.push_back(pg);
    absorbed.insert({s, pg});
  }
  // The activation reading a fused forward op's pre-activation z, taken into the op: out {y, z|-1}
  // (z kept only when the backward needs it — gelu — or someone else reads it), or {z, -1} when it
  // is a sigmoid moved into bce-with-logits. Returns what the op's rule name gains.
  std::string absorb_activation(PlanOp& op, int z) {
    const int act = consumer_of(z, OpType::activation, 0);
    op.out = {z, -1};
    if (act < 0) return "";
    take(op, {act});
    if (sigmoid_into_bce(act)) return " (sigmoid moved into bce-with-logits)";
    const Node& a = g.nodes[size_t(act)];
    op.attr.act = a.attr.act;
    const bool keep_z = g.consumers(z).size() > 1 &&
                        (act_derivative_needs_z(a.attr.act) || !only_consumed_by(z, {OpType::activation, OpType::activation_grad}));
    op.out = {a.out[0], keep_z ? z : -1};
    return "+activation";
  }
  // A fused backward op's dy and the activation's saved operands, from its activation_grad node
  // (in {dy, z, y}): in {dy, y|-1, z|-1, …} as act′ needs them (from y, or from z for gelu).
  void load_activation_grad(PlanOp& op, const Node& a) {
    op.attr.act = a.attr.act;
    const bool z_needed = act_derivative_needs_z(a.attr.act);
    op.in[0] = a.in[0], op.in[1] = z_needed ? -1 : a.in[2], op.in[2] = z_needed ? a.in[1] : -1;
  }

  void take(PlanOp& op, std::initializer_list<int> nodes) { take(op, std::vector<int>(nodes)); }
  void take(PlanOp& op, const std::vector<int>& nodes) {
    for (int n : nodes)
      if (n >= 0) {
        taken[n] = true;
        op.fused_nodes.push_back(n);
      }
  }
};

using Rule = bool (*)(Lowering&, int node);

// noise read only by untransposed GEMMs (the first layer's forward and dW)  ⇒  no op: those fused
// ops regenerate the corruption from Philox as they load x, so the corrupted input is never stored.
// lower() checks afterwards that no op reads it, and lowers again without this rule if one does.
bool rule_noise_regenerated(Lowering& L, int i) {
  const Node& n = L.g.nodes[i];
  if (n.type != OpType::noise || !L.regenerate_noise) return false;
  for (int c : L.g.consumers(n.out[0])) {
    const Node& r = L.g.nodes[size_t(c)];
    if ((r.type != OpType::linear && r.type != OpType::linear_grad_w) || r.attr.trans_w) return false;
  }
  if (L.is_output(n.out[0])) return false;
  L.taken[i] = true;
  L.regenerated.insert(i);
  return true;
}

// sparsity_grad or contractive_grad read only by an add (the code's gradient: reconstruction +
// penalty)  ⇒  no op yet: both are taken for the code layer's dense_bwd, which adds the penalty's
// gradient as it loads dy (sparsity: to dy; contractive: to dy⊙act′).
// lower() checks afterwards that one did, and lowers again without this rule if none did.
bool rule_penalty_on_load(Lowering& L, int i) {
  const Node& n = L.g.nodes[i];
  if ((n.type == OpType::sparsity_grad && L.sparsity_on_load) ||
      (n.type == OpType::contractive_grad && L.contractive_on_load)) {
    const auto readers = L.g.consumers(n.out[0]);
    if (readers.size() != 1 || L.g.nodes[size_t(readers[0])].type != OpType::add || L.is_output(n.out[0])) return false;
  } else if (n.type != OpType::add || !(L.deferred.count(L.g.producer(n.in[0])) || L.deferred.count(L.g.producer(n.in[1])))) {
    return false;
  }
  L.taken[i] = true;
  L.deferred.insert(i);
  return true;
}

// linear (x·Wᵀ) → bias_add → [activation]  ⇒  dense_fwd
bool rule_dense_fwd(Lowering& L, int i) {
  const Node& mm = L.g.nodes[i];
  if (mm.type != OpType::linear || mm.attr.trans_w) return false;
  const Tensor& x = L.g.tensors[size_t(mm.in[0])];
  if (!x.batched || x.rows_per_sample() != 1) return false;  // dense_fwd's rows are the batch
  int ba = L.consumer_of(mm.out[0], OpType::bias_add, 0);
  if (ba < 0 || L.g.consumers(mm.out[0]).size() != 1) return false;
  const int z = L.g.nodes[ba].out[0];
  PlanOp op{PlanOpKind::dense_fwd, "linear+bias_add"};
  op.layer = mm.layer;
  op.n = L.g.tensors[mm.in[1]].rows(0);
  op.k = L.g.tensors[mm.in[1]].cols();
  op.in = {mm.in[0], mm.in[1], L.g.nodes[ba].in[1]};
  op.rule += L.absorb_activation(op, z);
  op.in[0] = L.load_through_noise(op, op.in[0]);
  // A penalty on this layer's output (the code): its column sums are taken in the epilogue.
  const int pen = L.consumer_of(op.out[0], OpType::sparsity, 0);
  if (pen >= 0) {
    const Node& s = L.g.nodes[size_t(pen)];
    op.attr.sparsity = s.attr.sparsity;
    op.out.insert(op.out.end(), {s.out[0], s.out[1]});
    op.rule += " + the code penalty's column sums";
    L.take(op, {pen});
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
  bool logits = L.fuse && yprod >= 0 && L.sigmoid_into_bce(yprod);
  int pred = logits ? L.g.nodes[yprod].in[0] : y;
  PlanOp op{PlanOpKind::loss_fwd, logits ? "loss(bce, from logits)" : "loss"};
  op.attr.loss = ln.attr.loss;
  op.attr.reduction = ln.attr.reduction;
  op.from_logits = logits;
  op.layer = ln.layer;
  op.n = L.g.tensors[y].cols();
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
  if (ag >= 0 && ((!logits && act_derivative_needs_z(L.g.nodes[yprod].attr.act)) || !L.fuse)) ag = -1;
  if (ag >= 0 && L.g.consumers(dy).size() == 1) {
    // ∂L/∂z of the output layer directly: the dense backward of that layer then applies no act′.
    const Node& a = L.g.nodes[yprod];
    op.attr.act = logits ? Act::linear : a.attr.act;
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

// [activation_grad] → bias_grad, linear_grad_w, [linear_grad_x] on the same dz  ⇒  dense_bwd
bool rule_dense_bwd(Lowering& L, int i) {
  const Node& first = L.g.nodes[i];
  int ag = -1, dz = -1;
  int zsum = -1, dz_act = -1;  // a contractive penalty's sum on dz, and dz before it
  if (first.type == OpType::activation_grad) {
    ag = i;
    dz = first.out[0];
    if ((zsum = L.z_penalty_sum(dz, first.attr.act)) >= 0) dz_act = dz, dz = L.g.nodes[size_t(zsum)].out[0];
  } else if (first.type == OpType::bias_grad) {
    dz = first.in[0];
    const int s = L.g.producer(dz);  // a linear code layer: the sum is dz itself
    if (s >= 0 && L.deferred.count(s) && L.g.nodes[size_t(s)].type == OpType::add) {
      const Node& add = L.g.nodes[size_t(s)];
      for (int in : add.in)
        if (L.z_penalty_sum(in, Act::linear) == s) dz_act = in;  // no activation_grad: the op applies none
      if (dz_act >= 0) zsum = s;  // else a sparsity penalty's sum, for load_through_penalty
    }
  } else {
    return false;
  }
  int bg = L.consumer_of(dz, OpType::bias_grad, 0);
  int gw = L.consumer_of(dz, OpType::linear_grad_w, 0);
  int gx = L.consumer_of(dz, OpType::linear_grad_x, 0);
  if (bg < 0 || gw < 0) return false;
  // One kernel: x·Wᵀ layout. dW and db are overwritten or accumulated each on its own flag.
  if (L.g.nodes[gw].attr.trans_w || (gx >= 0 && L.g.nodes[gx].attr.trans_w)) return false;
  // dz is overwritten in place by the kernel: nobody else may read it.
  size_t readers = 2 + (gx >= 0 ? 1 : 0);
  if (L.g.consumers(dz).size() != readers) return false;
  PlanOp op{PlanOpKind::dense_bwd, "bias_grad+linear_grad_w+linear_grad_x"};
  const Node& w = L.g.nodes[gw];
  int x = w.in[1];
  int dW = w.out[0];
  // W's tensor through the parameter dW belongs to (linear_grad_w does not read W itself).
  int W = L.g.params[size_t(L.g.tensors[size_t(dW)].param)].tensor;
  op.attr.accumulate = w.attr.accumulate;
  op.accumulate_db = L.g.nodes[bg].attr.accumulate;
  op.n = L.g.tensors[dz].cols();
  op.k = L.g.tensors[x].cols();
  op.layer = w.layer;
  op.in = {zsum >= 0 ? dz_act : dz, -1, -1, x, W};
  if (ag >= 0) {
    const Node& a = L.g.nodes[ag];  // in {dy, z, y}
    if (L.g.consumers(a.in[0]).size() != 1) return false;  // dz is written over dy (cpu): dy must die here
    op.rule = "activation_grad+" + op.rule;
    L.load_activation_grad(op, a);
  }
  op.out = {dW, L.g.nodes[bg].out[0], gx >= 0 ? L.g.nodes[gx].out[0] : -1};
  op.in[3] = L.load_through_noise(op, x);
  if (zsum >= 0) L.absorb_z_penalty(op, zsum, dz_act);
  else op.in[0] = L.load_through_penalty(op, op.in[0]);
  L.take(op, {ag, bg, gw, gx});
  L.ops.push_back(op);
  return true;
}

// conv2d → [bias_add per channel] → [activation]  ⇒  conv_fwd (the dense_fwd rule's twin)
bool rule_conv_fwd(Lowering& L, int i) {
  const Node& cv = L.g.nodes[i];
  if (cv.type != OpType::conv2d) return false;
  PlanOp op{PlanOpKind::conv_fwd, "conv2d"};
  op.layer = cv.layer;
  op.attr.conv = cv.attr.conv;
  op.in = {cv.in[0], cv.in[1], -1};
  std::vector<int> nodes = {i};
  int z = cv.out[0];
  const int ba = L.consumer_of(z, OpType::bias_add, 0);
  if (ba >= 0 && L.g.nodes[size_t(ba)].attr.bcast == Broadcast::channel && L.g.consumers(z).size() == 1 && !L.is_output(z)) {
    op.in[2] = L.g.nodes[size_t(ba)].in[1];
    op.rule += "+bias_add";
    nodes.push_back(ba);
    z = L.g.nodes[size_t(ba)].out[0];
  }
  op.rule += L.absorb_activation(op, z);
  L.take(op, nodes);
  L.ops.push_back(op);
  return true;
}

// [activation_grad] → [bias_grad per channel], conv2d_grad_w, [conv2d_grad_x] on the same dz  ⇒
// conv_bwd (the dense_bwd rule's twin; a loss that absorbed act′ leaves no activation_grad)
bool rule_conv_bwd(Lowering& L, int i) {
  const Node& first = L.g.nodes[i];
  int ag = -1, dz = -1;
  if (first.type == OpType::activation_grad) {
    ag = i;
    dz = first.out[0];
  } else if ((first.type == OpType::bias_grad && first.attr.bcast == Broadcast::channel) || first.type == OpType::conv2d_grad_w) {
    dz = first.in[0];
  } else {
    return false;
  }
  const int gw = L.consumer_of(dz, OpType::conv2d_grad_w, 0);
  if (gw < 0) return false;
  const int bg = L.consumer_of(dz, OpType::bias_grad, 0), gx = L.consumer_of(dz, OpType::conv2d_grad_x, 0);
  if (bg >= 0 && L.g.nodes[size_t(bg)].attr.bcast != Broadcast::channel) return false;
  // dz is overwritten in place by the cpu kernel: nobody else may read it.
  if (L.g.consumers(dz).size() != size_t(1 + (bg >= 0) + (gx >= 0)) || L.is_output(dz)) return false;
  const Node& w = L.g.nodes[size_t(gw)];
  const int dW = w.out[0];
  PlanOp op{PlanOpKind::conv_bwd, std::string(bg >= 0 ? "bias_grad+" : "") + "conv2d_grad_w" + (gx >= 0 ? "+conv2d_grad_x" : "")};
  op.layer = w.layer;
  op.attr.conv = w.attr.conv;
  op.attr.accumulate = w.attr.accumulate;
  op.accumulate_db = bg >= 0 && L.g.nodes[size_t(bg)].attr.accumulate;
  const int W = L.g.params[size_t(L.g.tensors[size_t(dW)].param)].tensor;  // the weight dW belongs to
  op.in = {dz, -1, -1, w.in[1], W};
  if (ag >= 0) {
    const Node& a = L.g.nodes[size_t(ag)];  // in {dy, z, y}
    if (L.g.consumers(a.in[0]).size() != 1) return false;  // dz is written over dy (cpu): dy must die here
    op.rule = "activation_grad+" + op.rule;
    L.load_activation_grad(op, a);
  }
  op.out = {dW, bg >= 0 ? L.g.nodes[size_t(bg)].out[0] : -1, gx >= 0 ? L.g.nodes[size_t(gx)].out[0] : -1};
  L.take(op, {ag, bg, gw, gx});
  L.ops.push_back(op);
  return true;
}

// every optimizer_update of one group  ⇒  one multi-tensor optimizer_step
bool rule_optimizer(Lowering& L, int i) {
  if (L.g.nodes[i].type != OpType::optimizer_update) return false;
  const int group = L.g.nodes[i].attr.group;
  PlanOp op{PlanOpKind::optimizer_step, "optimizer_update × the group's params"};
  op.attr.group = group;
  for (int j = i; j < int(L.g.nodes.size()); ++j)
    if (L.g.nodes[j].type == OpType::optimizer_update && !L.taken[j] && L.g.nodes[j].attr.group == group) {
      op.in.push_back(L.g.nodes[j].in[0]);
      op.in.push_back(L.g.nodes[j].in[1]);
      L.take(op, {j});
    }
  L.ops.push_back(op);
  return true;
}

// Any primitive node alone  ⇒  its unfused op.
bool rule_unfused(Lowering& L, int i) {
  const Node& n = L.g.nodes[i];
  PlanOp op{PlanOpKind::copy, std::string(op_type_name(n.type)) + " (unfused)"};
  op.attr = n.attr;
  op.layer = n.layer;
  op.in = n.in;
  op.out = n.out;
  auto tensor = [&](int t) -> const Tensor& { return L.g.tensors[size_t(t)]; };
  // matmul dimensions: the batch stays symbolic where it enters (−rows per sample; see plan_dim).
  auto rows = [&](int t) { return tensor(t).batched ? -tensor(t).rows_per_sample() : tensor(t).rows(0); };
  switch (n.type) {
    case OpType::linear:  // y[B,N] = x[B,K]·Wᵀ (W [N,K]) or x·W (W [K,N])
      op.kind = PlanOpKind::matmul;
      op.trans_b = !n.attr.trans_w;
      op.m = rows(n.in[0]), op.n = tensor(n.out[0]).cols(), op.k = tensor(n.in[0]).cols();
      break;
    case OpType::linear_grad_w:  // dW = dyᵀ·x [N,K], or xᵀ·dy [K,N] for x·W
      op.kind = PlanOpKind::matmul;
      op.trans_a = true;
      if (n.attr.trans_w) op.in = {n.in[1], n.in[0]};
      op.m = tensor(op.in[0]).cols(), op.n = tensor(op.in[1]).cols(), op.k = rows(op.in[0]);
      break;
    case OpType::linear_grad_x:  // dx[B,K] = dy[B,N]·W (W [N,K]), or dy·Wᵀ (W [K,N])
      op.kind = PlanOpKind::matmul;
      op.trans_b = n.attr.trans_w;
      op.m = rows(n.in[0]), op.n = tensor(n.out[0]).cols(), op.k = tensor(n.in[0]).cols();
      break;
    case OpType::bias_add:  // per feature, or per channel of an image
      op.kind = PlanOpKind::binary;
      op.attr.binary = BinaryOp::add;
      op.attr.bcast = n.attr.bcast == Broadcast::channel ? Broadcast::channel : Broadcast::row;
      break;
    case OpType::add:
      op.kind = PlanOpKind::binary;
      op.attr.binary = BinaryOp::add;
      op.attr.bcast = Broadcast::none;
      break;
    case OpType::bias_grad:
      op.kind = PlanOpKind::reduce;
      op.attr.axis = n.attr.bcast == Broadcast::channel ? ReduceAxis::channels : ReduceAxis::rows;
      break;
    case OpType::conv2d:  // conv_fwd with no bias and no activation
      op.kind = PlanOpKind::conv_fwd;
      op.in = {n.in[0], n.in[1], -1};
      op.out = {n.out[0], -1};
      op.attr.act = Act::linear;
      break;
    case OpType::conv2d_grad_w: {  // conv_bwd with dW alone: in {dy, -, -, x, W}  out {dW, -, -}
      op.kind = PlanOpKind::conv_bwd;
      const int W = L.g.params[size_t(tensor(n.out[0]).param)].tensor;
      op.in = {n.in[0], -1, -1, n.in[1], W};
      op.out = {n.out[0], -1, -1};
      op.attr.act = Act::linear;
      break;
    }
    case OpType::conv2d_grad_x:  // conv_bwd with dx alone: in {dy, -, -, -, W}  out {-, -, dx}
      op.kind = PlanOpKind::conv_bwd;
      op.in = {n.in[0], -1, -1, -1, n.in[1]};
      op.out = {-1, -1, n.out[0]};
      op.attr.act = Act::linear;
      op.attr.accumulate = false;
      break;
    case OpType::pool: op.kind = PlanOpKind::pool; break;
    case OpType::pool_grad:  // in {dy, x|-1}
      op.kind = PlanOpKind::pool_grad;
      op.in = {n.in[0], n.in.size() > 1 ? n.in[1] : -1};
      break;
    case OpType::activation: op.kind = PlanOpKind::activation; break;
    case OpType::activation_grad:  // in {dy, z, y}: the derivative from y unless it needs z
      op.kind = PlanOpKind::activation_grad;
      op.in = {n.in[0], act_derivative_needs_z(n.attr.act) ? n.in[1] : -1, act_derivative_needs_z(n.attr.act) ? -1 : n.in[2]};
      break;
    case OpType::activation_grad2: op.kind = PlanOpKind::activation_grad2; break;
    case OpType::unary:
      op.kind = PlanOpKind::unary;
      if (n.attr.accumulate && n.attr.unary == UnaryOp::scale) {  // a scaled gradient added to a parameter's:
        op.kind = PlanOpKind::broadcast;                          // the broadcast kernel accumulates
        op.attr.bcast = Broadcast::none;
      }
      break;
    case OpType::binary: op.kind = PlanOpKind::binary; break;
    case OpType::reduce: op.kind = PlanOpKind::reduce; break;
    case OpType::broadcast: op.kind = PlanOpKind::broadcast; break;
    case OpType::fill: op.kind = PlanOpKind::fill; break;
    case OpType::stop_gradient: op.kind = PlanOpKind::copy; break;
    case OpType::noise: op.kind = PlanOpKind::noise; break;
    case OpType::prior: op.kind = PlanOpKind::prior; break;
    case OpType::sparsity: op.kind = PlanOpKind::sparsity; break;
    case OpType::sparsity_grad: op.kind = PlanOpKind::sparsity_grad; break;
    case OpType::contractive: op.kind = PlanOpKind::contractive; break;
    case OpType::contractive_grad: op.kind = PlanOpKind::contractive_grad; break;
    case OpType::contractive_grad_w: op.kind = PlanOpKind::contractive_grad_w; break;
    case OpType::reparam: op.kind = PlanOpKind::reparam; break;  // z and KL together: one kernel already
    case OpType::reparam_grad: op.kind = PlanOpKind::reparam_grad; break;
    default: return false;  // loss, loss_grad and optimizer_update have their own rules
  }
  L.take(op, {i});
  L.ops.push_back(op);
  return true;
}

// The fusion table: tried in this order at every node not yet taken.
constexpr Rule FUSION_RULES[] = {rule_noise_regenerated, rule_penalty_on_load, rule_dense_fwd, rule_conv_fwd, rule_loss,
                                 rule_dense_bwd, rule_conv_bwd, rule_optimizer, rule_unfused};
// Without fusion: the rules that are not fusions (the loss, optimizer and every primitive alone).
constexpr Rule BASE_RULES[] = {rule_loss, rule_optimizer, rule_unfused};

}  // namespace

namespace {
// The fusions that take nodes ahead of the op that absorbs them; one that no op completed is
// switched off and the graph lowered again.
struct Deferrals {
  bool regenerate_noise = true, sparsity_on_load = true, contractive_on_load = true;
  bool any() const { return regenerate_noise || sparsity_on_load || contractive_on_load; }
};

// nullopt when a deferral was not completed: a regenerated corruption with a reader that did not
// fuse, or a penalty gradient no dense_bwd took in (`failed` says which).
std::optional<std::vector<PlanOp>> lower_once(const Graph& g, bool fuse, Deferrals d, Deferrals& failed) {
  Lowering L{g, std::vector<bool>(g.nodes.size(), false), {}, fuse, fuse && d.regenerate_noise,
             fuse && d.sparsity_on_load, fuse && d.contractive_on_load};
  for (int i = 0; i < int(g.nodes.size()); ++i) {
    if (L.taken[i]) continue;
    bool matched = false;
    if (fuse) {
      for (Rule r : FUSION_RULES)
        if ((matched = r(L, i))) break;
    } else {
      for (Rule r : BASE_RULES)
        if ((matched = r(L, i))) break;
    }
    if (!matched) AE_FAIL("lowering: no fusion rule or kernel for IR node ", i, " (", op_type_name(g.nodes[i].type), ")");
  }
  failed = {false, false, false};
  // A regenerated corruption must be read by no op: every reader took it in through its x load.
  for (const PlanOp& op : L.ops)
    for (int t : op.in)
      if (t >= 0 && g.producer(t) >= 0 && L.regenerated.count(g.producer(t))) failed.regenerate_noise = true;
  for (int n : L.deferred) {  // a penalty's gradient (or its add) that no dense_bwd took in
    if (L.absorbed.count(n)) continue;
    const Node& node = g.nodes[size_t(n)];
    bool sparsity = node.type == OpType::sparsity_grad;
    if (node.type == OpType::add)
      for (int in : node.in) sparsity = sparsity || (g.producer(in) >= 0 && g.nodes[size_t(g.producer(in))].type == OpType::sparsity_grad);
    (sparsity ? failed.sparsity_on_load : failed.contractive_on_load) = true;
  }
  if (failed.any()) return std::nullopt;
  return L.ops;
}
}  // namespace

std::vector<PlanOp> lower(const Graph& g, bool fuse) {
  Deferrals d, failed;
  for (;;) {
    if (auto ops = lower_once(g, fuse, d, failed)) return *ops;
    AE_CHECK(d.any(), "lowering: a deferred fusion failed with every deferral off");
    if (failed.regenerate_noise) d.regenerate_noise = false;        // a reader of the corruption did not fuse: store it
    if (failed.sparsity_on_load) d.sparsity_on_load = false;        // no dense_bwd took the penalty: run it unfused
    if (failed.contractive_on_load) d.contractive_on_load = false;
  }
}

}  // namespace ae
