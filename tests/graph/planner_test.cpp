// Graph → Plan: fusion results and the memory planner's invariants (no two simultaneously
// live buffers overlap; arena ≤ naive sum; alignment; outputs never freed).
#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "graph/plan.h"
#include "kernels/common/error.h"

namespace ae {
namespace {

Plan plan_of(const std::string& spec, GraphMode mode, Loss loss, int64_t batch) {
  return make_plan(parse_spec(spec), mode, loss, batch);
}

void expect_invariants(const Plan& p) {
  ASSERT_FALSE(p.buffers.empty());
  EXPECT_LE(p.arena_bytes, p.naive_bytes);
  for (const auto& b : p.buffers) {
    EXPECT_EQ(b.offset % ARENA_ALIGN, 0) << p.graph.tensors[b.tensor].name;
    EXPECT_GE(b.bytes, p.graph.tensors[b.tensor].elements(p.batch) * 4);
    EXPECT_LE(b.offset + b.bytes, p.arena_bytes);
  }
  // Two buffers whose lifetimes [first_op, last_op] intersect must not overlap in memory.
  for (size_t i = 0; i < p.buffers.size(); ++i)
    for (size_t j = i + 1; j < p.buffers.size(); ++j) {
      const auto &a = p.buffers[i], &b = p.buffers[j];
      bool live_together = a.first_op <= b.last_op && b.first_op <= a.last_op;
      bool overlap = a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes;
      // Declared in-place hand-over: b takes a's block at the op where a dies (or vice versa).
      bool handover = (b.alias_of == a.tensor && b.first_op == a.last_op) || (a.alias_of == b.tensor && a.first_op == b.last_op);
      EXPECT_FALSE(live_together && overlap && !handover) << p.graph.tensors[a.tensor].name << " and " << p.graph.tensors[b.tensor].name;
    }
  // Every op operand that is not a param has arena memory.
  for (const auto& op : p.ops)
    for (auto* list : {&op.in, &op.out})
      for (int t : *list)
        if (t >= 0 && p.graph.tensors[t].role != TensorRole::param && p.graph.tensors[t].role != TensorRole::param_grad)
          EXPECT_GE(p.tensor_offset[t], 0) << p.graph.tensors[t].name;
}

TEST(Plan, DefaultModelFusesIntoDenseOps) {
  Plan p = plan_of("784-256r-32-256r-784s", GraphMode::train, Loss::mse, 256);
  std::vector<PlanOpKind> kinds;
  for (const auto& op : p.ops) kinds.push_back(op.kind);
  std::vector<PlanOpKind> want = {PlanOpKind::dense_fwd, PlanOpKind::dense_fwd, PlanOpKind::dense_fwd, PlanOpKind::dense_fwd,
                                  PlanOpKind::loss_fwd_bwd, PlanOpKind::dense_bwd, PlanOpKind::dense_bwd, PlanOpKind::dense_bwd,
                                  PlanOpKind::dense_bwd, PlanOpKind::optimizer_step};
  EXPECT_EQ(kinds, want);
  EXPECT_EQ(p.ops[4].attr.act, Act::sigmoid);   // mse: sigmoid′ applied by the loss op
  EXPECT_EQ(p.ops[5].attr.act, Act::linear);    // ... so the output layer's backward applies none
  EXPECT_EQ(p.ops[6].attr.act, Act::relu);
  EXPECT_EQ(p.ops[8].out[2], -1);          // first layer: no gradient for the input
  EXPECT_EQ(p.ops[9].in.size(), 16u);      // 8 params, each with its gradient
  expect_invariants(p);
}

TEST(Plan, SigmoidWithBceBecomesLogits) {
  Plan p = plan_of("784-256r-32-256r-784s", GraphMode::train, Loss::bce, 64);
  EXPECT_EQ(p.ops[3].attr.act, Act::linear);    // output layer writes logits
  EXPECT_TRUE(p.ops[4].from_logits);
  EXPECT_EQ(p.ops[4].attr.act, Act::linear);
  expect_invariants(p);
  Plan e = plan_of("784-256r-32-256r-784s", GraphMode::eval, Loss::bce, 64);
  EXPECT_TRUE(e.ops.back().from_logits);
  EXPECT_EQ(e.ops.back().kind, PlanOpKind::loss_fwd);
  // reconstruct keeps the sigmoid: its output is what the user asked for
  Plan r = plan_of("784-256r-32-256r-784s", GraphMode::reconstruct, Loss::bce, 64);
  EXPECT_EQ(r.ops.back().attr.act, Act::sigmoid);
}

TEST(Plan, GeluKeepsPreActivation) {
  Plan p = plan_of("30-20g-5-20g-30", GraphMode::train, Loss::mse, 7);
  EXPECT_GE(p.ops[0].out[1], 0);  // z kept for gelu′
  EXPECT_GE(p.ops[6].in[2], 0);
  // A gelu output: the loss pass sees only y, so gelu′ goes to that layer's dense_bwd, from z.
  Plan o = plan_of("30-20g-5-20g-30g", GraphMode::train, Loss::mse, 7);
  ASSERT_EQ(o.ops[4].kind, PlanOpKind::loss_fwd_bwd);
  EXPECT_EQ(o.ops[4].attr.act, Act::linear);
  ASSERT_EQ(o.ops[5].kind, PlanOpKind::dense_bwd);
  EXPECT_EQ(o.ops[5].attr.act, Act::gelu);
  EXPECT_GE(o.ops[5].in[2], 0);
  expect_invariants(o);
  Plan q = plan_of("30-20r-5-20r-30", GraphMode::train, Loss::mse, 7);
  EXPECT_EQ(q.ops[0].out[1], -1);  // relu′ from y alone
  expect_invariants(p);
  expect_invariants(q);
}

TEST(Plan, DeepModelArenaAtMostSevenTenthsOfNaive) {
  Plan p = plan_of("784-1000r-500r-250r-30-250r-500r-1000r-784s", GraphMode::train, Loss::mse, 256);
  expect_invariants(p);
  double ratio = double(p.arena_bytes) / double(p.naive_bytes);
  EXPECT_LE(ratio, 0.7) << "arena " << p.arena_bytes << " naive " << p.naive_bytes;
}

TEST(Plan, EveryModeAndOddShapes) {
  for (auto mode : {GraphMode::train, GraphMode::eval, GraphMode::encode, GraphMode::decode, GraphMode::reconstruct})
    for (int64_t batch : {1, 3, 17, 129}) {
      Plan p = plan_of("13-7t-3e-5u-13", mode, Loss::mse, batch);
      expect_invariants(p);
      for (int t : p.graph.outputs) {
        bool found = false;
        for (const auto& b : p.buffers)
          if (b.tensor == t) {
            found = true;
            EXPECT_EQ(b.last_op, INT_MAX);  // outputs are never freed
          }
        EXPECT_TRUE(found);
      }
    }
}

TEST(Plan, EncodeAndDecodeCoverTheirHalves) {
  Plan e = plan_of("784-256r-32-256r-784s", GraphMode::encode, Loss::mse, 5);
  ASSERT_EQ(e.ops.size(), 2u);
  EXPECT_EQ(e.graph.tensors[e.graph.outputs[0]].cols(), 32);
  Plan d = plan_of("784-256r-32-256r-784s", GraphMode::decode, Loss::mse, 5);
  ASSERT_EQ(d.ops.size(), 2u);
  EXPECT_EQ(d.graph.tensors[d.graph.inputs[0]].cols(), 32);
  EXPECT_EQ(d.graph.tensors[d.graph.outputs[0]].cols(), 784);
}


// Denoising (graph/lower.cpp, rule_noise_regenerated). The id of a tensor by name, or -1.
int tensor_named(const Plan& p, const std::string& name) {
  for (size_t t = 0; t < p.graph.tensors.size(); ++t)
    if (p.graph.tensors[t].name == name) return int(t);
  return -1;
}
bool has_buffer(const Plan& p, int t) {
  for (const auto& b : p.buffers)
    if (b.tensor == t) return true;
  return false;
}
// Every tensor an op reads is fed by the host, a parameter, or written by an earlier op: a
// corruption dropped from the plan must have no reader left.
void expect_every_read_written_before(const Plan& p) {
  std::vector<bool> written(p.graph.tensors.size(), false);
  for (int t : p.graph.inputs) written[size_t(t)] = true;
  for (size_t i = 0; i < p.ops.size(); ++i) {
    for (int t : p.ops[i].in) {
      if (t < 0 || p.graph.tensors[size_t(t)].role == TensorRole::param) continue;
      EXPECT_TRUE(written[size_t(t)]) << "op " << i << " (" << plan_op_kind_name(p.ops[i].kind) << ") reads "
                                      << p.graph.tensors[size_t(t)].name << ", which nothing wrote";
    }
    for (int t : p.ops[i].out)
      if (t >= 0) written[size_t(t)] = true;
  }
}
// The ops carrying a corruption: (kind, layer) of each.
std::vector<std::pair<PlanOpKind, int>> noisy_ops(const Plan& p) {
  std::vector<std::pair<PlanOpKind, int>> v;
  for (const auto& op : p.ops)
    if (op.attr.noise.kind != NoiseKind::none) v.emplace_back(op.kind, op.layer);
  return v;
}
constexpr const char* NO_BUFFER_LINE = "no corrupted-input buffer";

// Untied: both of the first layer's GEMMs fuse, so x~ is regenerated as they load x and never stored.
TEST(Plan, DenoisingFirstLayerRegeneratesTheCorruptionInsteadOfStoringIt) {
  const std::string spec = "784-64r-16-64r-784s:mask=0.3";
  const int64_t batch = 64;
  const Plan p = plan_of(spec, GraphMode::train, Loss::mse, batch);
  const Plan unfused = make_plan(parse_spec(spec), GraphMode::train, Loss::mse, batch, false);
  const Plan clean = plan_of("784-64r-16-64r-784s", GraphMode::train, Loss::mse, batch);
  expect_invariants(p);
  expect_invariants(unfused);
  expect_every_read_written_before(p);
  expect_every_read_written_before(unfused);

  const int x = p.graph.inputs[0], xt = tensor_named(p, "x~");
  ASSERT_GE(xt, 0) << "the train graph corrupts x into x~";
  EXPECT_FALSE(has_buffer(p, xt));
  EXPECT_EQ(p.tensor_offset[size_t(xt)], -1);
  // Only the forward and dW of layer 0 carry it, each reading the clean x.
  using K = PlanOpKind;
  EXPECT_EQ(noisy_ops(p), (std::vector<std::pair<K, int>>{{K::dense_fwd, 0}, {K::dense_bwd, 0}}));
  ASSERT_EQ(p.ops.front().kind, K::dense_fwd);
  EXPECT_EQ(p.ops.front().attr.noise.kind, NoiseKind::mask);
  EXPECT_FLOAT_EQ(p.ops.front().attr.noise.p, 0.3f);
  EXPECT_EQ(p.ops.front().in[0], x);
  const PlanOp& last_bwd = p.ops[p.ops.size() - 2];  // before the optimizer step
  ASSERT_EQ(last_bwd.kind, K::dense_bwd);
  EXPECT_EQ(last_bwd.layer, 0);
  EXPECT_EQ(last_bwd.attr.noise.kind, NoiseKind::mask);
  EXPECT_EQ(last_bwd.in[3], x);
  // The same ops as the model without noise, and the same arena: nothing is stored for x~.
  ASSERT_EQ(p.ops.size(), clean.ops.size());
  for (size_t i = 0; i < p.ops.size(); ++i) EXPECT_EQ(p.ops[i].kind, clean.ops[i].kind) << "op " << i;
  EXPECT_EQ(p.arena_bytes, clean.arena_bytes);
  EXPECT_EQ(p.buffers.size(), clean.buffers.size());

  // Unfused: a noise op writes x~ (x in, x~ out), a buffer holds it, and the arena is larger.
  const int uxt = tensor_named(unfused, "x~");
  ASSERT_GE(uxt, 0);
  EXPECT_TRUE(has_buffer(unfused, uxt));
  EXPECT_EQ(noisy_ops(unfused), (std::vector<std::pair<K, int>>{{K::noise, 0}}));
  for (const auto& op : unfused.ops)
    if (op.kind == K::noise) {
      EXPECT_EQ(op.in, std::vector<int>{unfused.graph.inputs[0]});
      EXPECT_EQ(op.out, std::vector<int>{uxt});
    }
  EXPECT_LT(p.arena_bytes, unfused.arena_bytes);

  const std::string report = plan_report(p);
  EXPECT_NE(report.find(NO_BUFFER_LINE), std::string::npos) << report;
  EXPECT_NE(report.find("input corruption (mask)"), std::string::npos) << report;
  EXPECT_EQ(plan_report(unfused).find(NO_BUFFER_LINE), std::string::npos);
  EXPECT_EQ(plan_report(clean).find(NO_BUFFER_LINE), std::string::npos);
}

// The first layer's dense_bwd in a plan (the last dense_bwd of layer 0), or nullptr.
const PlanOp* first_layer_bwd(const Plan& p) {
  const PlanOp* found = nullptr;
  for (const auto& op : p.ops)
    if (op.kind == PlanOpKind::dense_bwd && op.layer == 0) found = &op;
  return found;
}

// Tied: the decoder's x·W contribution writes layer 0's dW first, so layer 0's dense_bwd adds into
// dW while it overwrites db. It fuses all the same (dW and db have a flag each), and x~ is
// regenerated as its GEMMs load x, as in the untied model: nothing stores the corrupted input.
TEST(Plan, TiedDenoisingRegeneratesTheCorruptionWithDwAccumulating) {
  for (const char* noise : {"mask=0.3", "saltpepper=0.1,0,1", "gaussian=0.2,clip"}) {
    const std::string spec = std::string("784-64r-16-64r-784s:tied:") + noise;
    SCOPED_TRACE(spec);
    const Plan p = plan_of(spec, GraphMode::train, Loss::bce, 32);
    expect_invariants(p);
    expect_every_read_written_before(p);
    EXPECT_NO_THROW(check_gradient_order(p));
    const int xt = tensor_named(p, "x~");
    ASSERT_GE(xt, 0);
    EXPECT_FALSE(has_buffer(p, xt));
    EXPECT_EQ(noisy_ops(p), (std::vector<std::pair<PlanOpKind, int>>{{PlanOpKind::dense_fwd, 0},
                                                                      {PlanOpKind::dense_bwd, 0}}));
    const PlanOp* l0 = first_layer_bwd(p);
    ASSERT_NE(l0, nullptr);
    EXPECT_TRUE(l0->accumulates(0)) << "dW: the decoder's contribution came first";
    EXPECT_FALSE(l0->accumulates(1)) << "db: its only writer";
    EXPECT_EQ(l0->in[3], p.graph.inputs[0]);
    const std::string report = plan_report(p);
    EXPECT_NE(report.find(NO_BUFFER_LINE), std::string::npos) << report;
    EXPECT_NE(report.find("dW+="), std::string::npos) << report;
  }
}

// A contractive penalty writes the encoder's weight gradients before the layers' own backward does
// (its ∂/∂W terms come first), so each encoder layer's dense_bwd adds into dW and overwrites db.
// Every layer fuses, and with a corruption the first one regenerates x~: no noise op, no buffer.
TEST(Plan, ContractiveDenoisingFusesTheFirstLayerAndRegeneratesTheCorruption) {
  for (const char* model : {"784-128s-32s-128s-784s", "784-64t-784s"}) {
    const std::string spec = std::string(model) + ":contractive=1e-4:mask=0.3";
    SCOPED_TRACE(spec);
    const Plan p = plan_of(spec, GraphMode::train, Loss::mse, 64);
    expect_invariants(p);
    expect_every_read_written_before(p);
    EXPECT_NO_THROW(check_gradient_order(p));
    for (const auto& op : p.ops) EXPECT_NE(op.kind, PlanOpKind::noise) << "x~ must be regenerated, not stored";
    const int xt = tensor_named(p, "x~");
    ASSERT_GE(xt, 0);
    EXPECT_FALSE(has_buffer(p, xt));
    EXPECT_EQ(noisy_ops(p), (std::vector<std::pair<PlanOpKind, int>>{{PlanOpKind::dense_fwd, 0},
                                                                      {PlanOpKind::dense_bwd, 0}}));
    const PlanOp* l0 = first_layer_bwd(p);
    ASSERT_NE(l0, nullptr) << "layer 0's backward did not fuse";
    EXPECT_EQ(l0->in[3], p.graph.inputs[0]) << "dW reads the clean x and corrupts it on load";
    EXPECT_NE(l0->rule.find("corruption on x's load"), std::string::npos) << l0->rule;
    EXPECT_TRUE(l0->accumulates(0)) << "dW: the penalty's gradient came first";
    EXPECT_FALSE(l0->accumulates(1)) << "db: the penalty does not touch the bias";
    // Every layer's backward is one dense_bwd.
    std::vector<int> bwd_per_layer;
    for (const auto& op : p.ops)
      if (op.kind == PlanOpKind::dense_bwd) bwd_per_layer.push_back(op.layer);
    std::sort(bwd_per_layer.begin(), bwd_per_layer.end());
    std::vector<int> every_layer(size_t(std::count(model, model + std::strlen(model), '-')));
    std::iota(every_layer.begin(), every_layer.end(), 0);
    EXPECT_EQ(bwd_per_layer, every_layer);
    const std::string report = plan_report(p);
    EXPECT_NE(report.find(NO_BUFFER_LINE), std::string::npos) << report;
  }
}

// check_gradient_order holds each of dense_bwd's outputs to its own flag: with layer 0's db made to
// accumulate (onto nothing), or its dW made to overwrite the penalty's contribution, it throws.
TEST(Plan, GradientOrderChecksDwAndDbOfADenseBwdSeparately) {
  const Plan p = plan_of("784-64t-784s:contractive=1e-4", GraphMode::train, Loss::mse, 16);
  ASSERT_NE(first_layer_bwd(p), nullptr);
  const size_t l0 = size_t(first_layer_bwd(p) - p.ops.data());
  Plan db_adds = p, dw_overwrites = p;
  db_adds.ops[l0].accumulate_db = true;
  dw_overwrites.ops[l0].attr.accumulate = false;
  EXPECT_THROW(check_gradient_order(db_adds), Error);
  EXPECT_THROW(check_gradient_order(dw_overwrites), Error);
  EXPECT_NO_THROW(check_gradient_order(p));
}

// A first layer without a bias (a hand-built graph; a spec's layers always have one) matches no
// dense rule, so the matmuls of its forward and dW read x~: lowering falls back to storing x~ with
// a noise op, read by those two.
TEST(Plan, AnUnfusedFirstLayerFallsBackToAStoredCorruptedInput) {
  Graph g;
  const int w0 = g.add_param("enc.weight", {8, 16}), w1 = g.add_param("dec.weight", {16, 8});
  const int b1 = g.add_param("dec.bias", {16});
  const int x = g.add_tensor(batched_tensor("x", TensorRole::input, {16}));
  g.inputs.push_back(x);
  auto batched = [&](const char* name, int64_t cols) {
    return g.add_tensor(batched_tensor(name, TensorRole::activation, {cols}));
  };
  const int xt = batched("x~", 16), h = batched("h", 8), hy = batched("h.y", 8);
  const int xw = batched("xw", 16), z = batched("z", 16), y = batched("y", 16);
  Attrs corrupt, tanh, sigmoid, mse;
  corrupt.noise = NoiseParams{NoiseKind::mask, false, 0.3f};
  tanh.act = Act::tanh, sigmoid.act = Act::sigmoid, mse.loss = Loss::mse;
  g.add_node(OpType::noise, {x}, {xt}, corrupt, 0);
  g.add_node(OpType::linear, {xt, w0}, {h}, {}, 0);  // no bias_add
  g.add_node(OpType::activation, {h}, {hy}, tanh, 0);
  g.add_node(OpType::linear, {hy, w1}, {xw}, {}, 1);
  g.add_node(OpType::bias_add, {xw, b1}, {z}, {}, 1);
  g.add_node(OpType::activation, {z}, {y}, sigmoid, 1);
  const int loss = g.add_tensor(fixed_tensor("loss", TensorRole::scalar, {1}));
  const int err = g.add_tensor(batched_tensor("per_sample_error", TensorRole::output, {1}));
  g.add_node(OpType::loss, {y, x}, {loss, err}, mse, 1);
  g.terms.push_back({"recon", 1.0, loss});
  g.per_sample = err;
  g.outputs = {loss, err};
  append_backward(g);

  const Plan p = make_plan(std::move(g), GraphMode::train, 32);
  expect_invariants(p);
  expect_every_read_written_before(p);
  ASSERT_TRUE(has_buffer(p, xt));
  EXPECT_EQ(noisy_ops(p), (std::vector<std::pair<PlanOpKind, int>>{{PlanOpKind::noise, 0}}));
  ASSERT_EQ(p.ops.front().kind, PlanOpKind::noise);
  EXPECT_EQ(p.ops.front().out[0], xt);
  int readers = 0;
  for (const auto& op : p.ops) {
    if (std::count(op.in.begin(), op.in.end(), xt) == 0) continue;
    EXPECT_EQ(op.kind, PlanOpKind::matmul);
    ++readers;
  }
  EXPECT_EQ(readers, 2) << "layer 0's forward and its dW";
  EXPECT_EQ(plan_report(p).find(NO_BUFFER_LINE), std::string::npos);
}

// No corruption outside training: eval, encode and reconstruct read x itself.
TEST(Plan, DenoisingCorruptsOnlyTheTrainingGraph) {
  for (auto mode : {GraphMode::eval, GraphMode::encode, GraphMode::reconstruct}) {
    const Plan p = plan_of("784-64r-16-64r-784s:mask=0.3", mode, Loss::mse, 8);
    EXPECT_EQ(tensor_named(p, "x~"), -1) << graph_mode_name(mode);
    EXPECT_TRUE(noisy_ops(p).empty()) << graph_mode_name(mode);
  }
}

}  // namespace
}  // namespace ae

namespace ae {
namespace {

int count_kind(const Plan& p, PlanOpKind k) {
  return int(std::count_if(p.ops.begin(), p.ops.end(), [&](const PlanOp& op) { return op.kind == k; }));
}

// A sparsity penalty on the code fuses into the code layer's dense ops: its column sums into the
// forward's epilogue, its gradient into the backward's load of dy. No op of its own is left but
// the seed of its term, and no [B, N] gradient of the penalty is stored.
TEST(Plan, SparsityPenaltyFusesIntoTheCodeLayer) {
  for (const char* pen : {"kl=0.05,0.001", "l1=0.001"}) {
    const std::string code = std::string(pen).substr(0, 2) == "kl" ? "64s" : "64";
    const std::string spec = "784-128r-" + code + "-128r-784s:" + pen;
    SCOPED_TRACE(spec);
    const Plan p = plan_of(spec, GraphMode::train, Loss::mse, 100);
    expect_invariants(p);
    expect_every_read_written_before(p);
    EXPECT_EQ(count_kind(p, PlanOpKind::sparsity), 0);
    EXPECT_EQ(count_kind(p, PlanOpKind::sparsity_grad), 0);
    EXPECT_EQ(count_kind(p, PlanOpKind::binary), 0) << "the code's two gradients are summed on load";
    int fwd = 0, bwd = 0;
    for (const PlanOp& op : p.ops) {
      if (op.attr.sparsity.kind == SparsityKind::none) continue;
      EXPECT_EQ(op.layer, 1);
      if (op.kind == PlanOpKind::dense_fwd) {
        ++fwd;
        ASSERT_EQ(op.out.size(), 4u);
        EXPECT_EQ(p.graph.tensors[size_t(op.out[2])].name, "sparsity");
      }
      if (op.kind == PlanOpKind::dense_bwd) {
        ++bwd;
        ASSERT_EQ(op.in.size(), 8u);
        EXPECT_EQ(op.in[5], p.ops[1].out[0]) << "h is the code layer's output";
      }
    }
    EXPECT_EQ(fwd, 1);
    EXPECT_EQ(bwd, 1);
    EXPECT_NE(plan_report(p).find("the rest fused into dense_fwd of layer 1, dense_bwd of layer 1"), std::string::npos)
        << plan_report(p);
    const Plan unfused = make_plan(p.graph, GraphMode::train, 100, false);
    EXPECT_EQ(count_kind(unfused, PlanOpKind::sparsity), 1);
    EXPECT_EQ(count_kind(unfused, PlanOpKind::sparsity_grad), 1);
    EXPECT_LT(p.arena_bytes, unfused.arena_bytes);
  }
}

// Both penalties on a one-layer encoder's code: the dense_bwd takes one gradient on its load, the
// contractive one (after act′); the sparsity gradient then runs unfused (lowering re-lowers with that
// deferral off, and only that one), and every tensor an op reads is still written before it.
TEST(Plan, SparsityPenaltyLowersUnfusedWhereTheBackwardTakesAnotherPenalty) {
  for (const char* spec : {"784-64s-784s:kl=0.05,3:contractive=0.1", "784-64s-784s:kl=0.05,3:contractive=0.1:mask=0.2"}) {
    SCOPED_TRACE(spec);
    const Plan p = plan_of(spec, GraphMode::train, Loss::bce, 70);
    expect_invariants(p);
    expect_every_read_written_before(p);
    check_gradient_order(p);
    EXPECT_EQ(count_kind(p, PlanOpKind::sparsity_grad), 1);
    EXPECT_EQ(count_kind(p, PlanOpKind::contractive_grad), 0);
    int fused = 0;
    for (const PlanOp& op : p.ops)
      if (op.kind == PlanOpKind::dense_bwd) {
        EXPECT_EQ(op.attr.sparsity.kind, SparsityKind::none);
        fused += op.z_penalty;
      }
    EXPECT_EQ(fused, 1);
  }
}

}  // namespace
}  // namespace ae

namespace ae {
namespace {

// A one-layer encoder's contractive penalty: its closed form is one op, and the gradient it sends
// to z is added as the encoder's dense_bwd loads dy⊙act′ — no activation_grad, add or stored
// [B, N] penalty gradient; with a corruption too, the input is still regenerated, never stored.
TEST(Plan, OneLayerContractiveGradientFusesIntoTheEncodersBackward) {
  for (const char* spec : {"784-64t-784s:contractive=0.0001", "784-64-784s:contractive=0.0001",
                           "784-64s-784s:contractive=0.0001:mask=0.2"}) {
    SCOPED_TRACE(spec);
    const Plan p = plan_of(spec, GraphMode::train, Loss::mse, 100);
    expect_invariants(p);
    expect_every_read_written_before(p);
    check_gradient_order(p);
    EXPECT_EQ(count_kind(p, PlanOpKind::contractive), 1);
    EXPECT_EQ(count_kind(p, PlanOpKind::contractive_grad_w), 1);
    EXPECT_EQ(count_kind(p, PlanOpKind::contractive_grad), 0);
    EXPECT_EQ(count_kind(p, PlanOpKind::binary), 0);
    EXPECT_EQ(count_kind(p, PlanOpKind::activation_grad), 0);
    EXPECT_EQ(count_kind(p, PlanOpKind::noise), 0);
    int fused = 0;
    for (const PlanOp& op : p.ops)
      if (op.kind == PlanOpKind::dense_bwd && op.z_penalty) {
        ++fused;
        EXPECT_EQ(op.layer, 0);
        ASSERT_EQ(op.in.size(), 8u);
        EXPECT_EQ(p.graph.tensors[size_t(op.in[6])].name, "|W_j|^2");
        EXPECT_TRUE(op.accumulates(0)) << "the penalty's ∂/∂W wrote dW first";
        EXPECT_FALSE(op.accumulates(1));
      }
    EXPECT_EQ(fused, 1);
    const Plan unfused = make_plan(p.graph, GraphMode::train, 100, false);
    EXPECT_EQ(count_kind(unfused, PlanOpKind::contractive_grad), 1);
  }
}

}  // namespace
}  // namespace ae
