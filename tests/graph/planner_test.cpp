// Graph → Plan: fusion results and the memory planner's invariants (no two simultaneously
// live buffers overlap; arena ≤ naive sum; alignment; outputs never freed).
#include <gtest/gtest.h>

#include <climits>

#include "graph/plan.h"

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

}  // namespace
}  // namespace ae
