// Mixed precision on the Plan (graph/precision.cpp): which tensors become bf16, where casts go,
// what the optimizer writes, and what the arena saves. The numerics are tested where the kernels
// live (tests/kernels) and end to end (tests/e2e/precision_test.cpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "graph/plan.h"

namespace ae {
namespace {

constexpr const char* DEFAULT_SPEC = "784-256r-32-256r-784s";

Plan bf16_plan(const std::string& spec, GraphMode mode = GraphMode::train, int64_t batch = 256, Loss loss = Loss::mse) {
  return make_plan(parse_spec(spec), mode, loss, batch, true, DType::bf16);
}

const Tensor& T(const Plan& p, int t) { return p.graph.tensors[size_t(t)]; }

// Every operand's dtype is one its op's kernels take: a dense op in bf16 reads bf16 x, W, y, z, dy
// and an fp32 bias; a loss in bf16 a bf16 prediction and a target of either dtype; every other op
// (and the dense ops with a fused penalty or corruption) fp32 only. Parameter gradients are fp32.
void expect_consistent(const Plan& p) {
  for (const PlanOp& op : p.ops) {
    if (op.kind == PlanOpKind::cast) {
      EXPECT_NE(T(p, op.in[0]).dtype, T(p, op.out[0]).dtype) << "a cast that converts nothing";
      continue;
    }
    const bool loss = op.kind == PlanOpKind::loss_fwd || op.kind == PlanOpKind::loss_fwd_bwd;
    const bool low = (op.kind == PlanOpKind::dense_fwd || op.kind == PlanOpKind::dense_bwd || loss) &&
                     T(p, op.in[0]).dtype == DType::bf16;
    for (size_t i = 0; i < op.in.size(); ++i) {
      if (op.in[i] < 0) continue;
      const Tensor& t = T(p, op.in[i]);
      if (low && loss && i == 1) continue;  // the target: either dtype
      const bool fp32 = !low || (op.kind == PlanOpKind::dense_fwd && i == 2);
      EXPECT_EQ(t.dtype, fp32 ? DType::f32 : DType::bf16) << plan_op_kind_name(op.kind) << " operand " << i << ": " << t.name;
    }
    for (int o : op.out)
      if (o >= 0 && T(p, o).role == TensorRole::param_grad) EXPECT_EQ(T(p, o).dtype, DType::f32) << T(p, o).name;
  }
}

TEST(Precision, DefaultModelTrainsWhollyInBf16WithoutACast) {
  const Plan f = make_plan(parse_spec(DEFAULT_SPEC), GraphMode::train, Loss::mse, 256);
  const Plan p = bf16_plan(DEFAULT_SPEC);
  EXPECT_EQ(p.precision, DType::bf16);
  EXPECT_EQ(p.ops.size(), f.ops.size()) << plan_report(p);
  for (const PlanOp& op : p.ops) EXPECT_NE(op.kind, PlanOpKind::cast) << plan_report(p);
  expect_consistent(p);
  // The input is stored in bf16 (every reader takes it), so the arena does not hold it twice.
  EXPECT_EQ(T(p, p.graph.inputs[0]).dtype, DType::bf16);
  std::set<int> copies_read;
  for (const PlanOp& op : p.ops) {
    if (op.kind == PlanOpKind::dense_fwd || op.kind == PlanOpKind::dense_bwd) {
      const int w = op.in[op.kind == PlanOpKind::dense_fwd ? 1 : 4];
      EXPECT_EQ(T(p, w).role, TensorRole::param_copy) << "a GEMM reads the fp32 master " << T(p, w).name;
      EXPECT_EQ(T(p, w).dtype, DType::bf16);
      copies_read.insert(w);
      if (op.kind == PlanOpKind::dense_fwd) EXPECT_EQ(T(p, op.in[2]).role, TensorRole::param) << "the bias stays fp32";
    }
    if (op.kind == PlanOpKind::loss_fwd_bwd) {
      EXPECT_EQ(T(p, op.out[0]).dtype, DType::f32);  // loss
      EXPECT_EQ(T(p, op.out[1]).dtype, DType::f32);  // per-sample errors
      EXPECT_EQ(T(p, op.out[2]).dtype, DType::bf16);
    }
  }
  EXPECT_EQ(copies_read.size(), 4u);
  // The step updates all 8 fp32 parameters and writes each one's compute copy in the same pass.
  const PlanOp& opt = p.ops.back();
  ASSERT_EQ(opt.kind, PlanOpKind::optimizer_step);
  ASSERT_EQ(opt.out.size(), opt.in.size() / 2);
  for (size_t i = 0; i < opt.out.size(); ++i) {
    EXPECT_EQ(T(p, opt.in[2 * i]).role, TensorRole::param);
    EXPECT_EQ(T(p, opt.in[2 * i + 1]).dtype, DType::f32);
    ASSERT_GE(opt.out[i], 0);
    EXPECT_EQ(T(p, opt.out[i]).role, TensorRole::param_copy);
    EXPECT_EQ(T(p, opt.out[i]).param, T(p, opt.in[2 * i]).param);
  }
  for (int c : copies_read) EXPECT_NE(std::find(opt.out.begin(), opt.out.end(), c), opt.out.end());
  // Copies live in the parameter store, never in the arena.
  for (const BufferPlan& b : p.buffers) EXPECT_NE(T(p, b.tensor).role, TensorRole::param_copy);
}

// Issue 13's figure: the default model's bf16 arena at batch 256 is at most 0.55 of the fp32 one.
TEST(Precision, Bf16ArenaIsAtMost055OfFp32ForTheDefaultModel) {
  const Plan f = make_plan(parse_spec(DEFAULT_SPEC), GraphMode::train, Loss::mse, 256);
  const Plan p = bf16_plan(DEFAULT_SPEC);
  const double ratio = double(p.arena_bytes) / double(f.arena_bytes);
  EXPECT_LE(ratio, 0.55) << p.arena_bytes << " against " << f.arena_bytes;
  EXPECT_GT(ratio, 0.4) << "activations halve; per-sample errors and the loss stay fp32";
  for (const BufferPlan& b : p.buffers) EXPECT_GE(b.bytes, T(p, b.tensor).bytes(p.batch));
}

// A penalty or corruption fused into a dense op keeps that op fp32 (its epilogue reads fp32), and
// casts join it to its bf16 neighbours; an input that an fp32 op reads stays fp32.
TEST(Precision, OpsWithoutBf16KernelsStayFp32BehindCasts) {
  for (const char* spec : {"784-64r-16s-64r-784s:l1=0.001", "784-64r-16-64r-784s:mask=0.3", "784-64s-784s:contractive=0.1",
                           "784-64r-16v-64r-784s", "784-64r-16s-64r-784s:kl=0.05,0.1"}) {
    SCOPED_TRACE(spec);
    const Plan p = bf16_plan(spec, GraphMode::train, 37);
    expect_consistent(p);
    int casts = 0;
    for (const PlanOp& op : p.ops) casts += op.kind == PlanOpKind::cast;
    EXPECT_GT(casts, 0) << plan_report(p);
    // Every cast's source is written before it (or is an input), and its output is read after it.
    for (size_t i = 0; i < p.ops.size(); ++i) {
      if (p.ops[i].kind != PlanOpKind::cast) continue;
      const int src = p.ops[i].in[0], dst = p.ops[i].out[0];
      bool written = T(p, src).role == TensorRole::input, read = false;
      for (size_t j = 0; j < i; ++j)
        for (int o : p.ops[j].out) written = written || o == src;
      for (size_t j = i + 1; j < p.ops.size(); ++j)
        for (int t : p.ops[j].in) read = read || t == dst;
      EXPECT_TRUE(written) << T(p, src).name;
      EXPECT_TRUE(read) << T(p, dst).name;
    }
  }
  const Plan noisy = bf16_plan("784-64r-16-64r-784s:mask=0.3");
  EXPECT_EQ(T(noisy, noisy.graph.inputs[0]).dtype, DType::f32) << "the corrupting first layer reads fp32 x";
}

// An op's output takes over an input's block in place only when both have the same dtype.
TEST(Precision, InPlaceHandOversKeepOneElementSize) {
  for (const char* spec : {DEFAULT_SPEC, "784-64r-16s-64r-784s:l1=0.001", "784-64r-16v-64r-784s"})
    for (bool fuse : {true, false}) {
      const Plan p = make_plan(parse_spec(spec), GraphMode::train, Loss::mse, 64, fuse, DType::bf16);
      for (const PlanOp& op : p.ops)
        if (op.inplace.first >= 0)
          EXPECT_EQ(T(p, op.out[size_t(op.inplace.first)]).dtype, T(p, op.in[size_t(op.inplace.second)]).dtype)
              << spec << " " << plan_op_kind_name(op.kind);
      for (const BufferPlan& b : p.buffers)
        if (b.alias_of >= 0) EXPECT_EQ(T(p, b.tensor).dtype, T(p, b.alias_of).dtype) << T(p, b.tensor).name;
    }
}

// Forward-only plans: the code (an output the host reads) is bf16 as the dense op writes it; the
// executor converts it on read. No optimizer, so nothing writes the copies the GEMMs read.
TEST(Precision, EncodePlanReadsCopiesAndWritesABf16Code) {
  const Plan p = bf16_plan(DEFAULT_SPEC, GraphMode::encode, 100);
  expect_consistent(p);
  EXPECT_EQ(T(p, p.graph.inputs[0]).dtype, DType::bf16);
  EXPECT_EQ(T(p, p.graph.outputs[0]).dtype, DType::bf16);
  for (const PlanOp& op : p.ops) EXPECT_NE(op.kind, PlanOpKind::optimizer_step);
  EXPECT_NE(plan_report(p).find("precision bf16"), std::string::npos);
  EXPECT_EQ(plan_json(p)["precision"], "bf16");
}

// fp16 train plans scale the loss: every gradient seed reads the loss-scale state, each optimizer
// step is right behind an unscale of exactly its gradients, and one update follows the last step.
// bf16 plans (bf16 has fp32's range) and fp16 forward plans have none of it.
TEST(Precision, Fp16TrainPlansScaleTheLoss) {
  for (const char* spec : {DEFAULT_SPEC, "784-64r-16v-64r-784s", "784-64r-16s-64r-784s:l1=0.001", "7-5s-3s-5s-7s:contractive=0.1"})
    for (bool fuse : {true, false}) {
      SCOPED_TRACE(std::string(spec) + (fuse ? " fused" : " unfused"));
      const Plan p = make_plan(parse_spec(spec), GraphMode::train, Loss::mse, 64, fuse, DType::f16);
      ASSERT_GE(p.loss_scale, 0);
      EXPECT_EQ(T(p, p.loss_scale).role, TensorRole::loss_scale);
      int steps = 0, updates = 0, seeds = 0;
      for (size_t i = 0; i < p.ops.size(); ++i) {
        const PlanOp& op = p.ops[i];
        const bool seed = op.kind == PlanOpKind::loss_fwd_bwd ||
                          (op.kind == PlanOpKind::fill && T(p, op.out[0]).role == TensorRole::gradient);
        if (seed) {
          EXPECT_EQ(op.loss_scale, p.loss_scale) << plan_op_kind_name(op.kind) << " seeds an unscaled gradient";
          ++seeds;
        } else if (op.kind != PlanOpKind::optimizer_step && op.kind != PlanOpKind::unscale_grads &&
                   op.kind != PlanOpKind::update_scale) {
          EXPECT_EQ(op.loss_scale, -1) << plan_op_kind_name(op.kind) << " " << T(p, op.out[0]).name
                                       << ": only gradient seeds are scaled (a forward fill is not)";
        }
        if (op.kind == PlanOpKind::optimizer_step) {
          ++steps;
          EXPECT_EQ(op.loss_scale, p.loss_scale);
          ASSERT_GT(i, 0u);
          const PlanOp& u = p.ops[i - 1];
          ASSERT_EQ(u.kind, PlanOpKind::unscale_grads) << "optimizer step " << steps << " is not behind an unscale";
          std::vector<int> grads;
          for (size_t k = 1; k < op.in.size(); k += 2) grads.push_back(op.in[k]);
          EXPECT_EQ(u.in, grads);
        }
        if (op.kind == PlanOpKind::update_scale) {
          ++updates;
          EXPECT_EQ(steps, 1) << "the update must follow the last optimizer step";
          EXPECT_EQ(i + 1, p.ops.size());
        }
      }
      EXPECT_EQ(steps, 1);
      EXPECT_EQ(updates, 1);
      EXPECT_GE(seeds, 1);
      EXPECT_EQ(p.tensor_offset[size_t(p.loss_scale)], -1) << "the scale lives in the parameter store, not the arena";
    }
  for (DType d : {DType::bf16, DType::f16}) {
    const Plan p = make_plan(parse_spec(DEFAULT_SPEC), d == DType::bf16 ? GraphMode::train : GraphMode::encode, Loss::mse, 64,
                             true, d);
    EXPECT_EQ(p.loss_scale, -1) << dtype_name(d);
    for (const PlanOp& op : p.ops) {
      EXPECT_EQ(op.loss_scale, -1) << plan_op_kind_name(op.kind);
      EXPECT_NE(op.kind, PlanOpKind::unscale_grads);
      EXPECT_NE(op.kind, PlanOpKind::update_scale);
    }
  }
}

}  // namespace
}  // namespace ae
