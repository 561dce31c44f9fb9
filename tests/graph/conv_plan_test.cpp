// Convolutional specs through the graph (issue 12): the layers become conv2d / bias_add per channel
// / activation / pool nodes on image tensors, a reshape moves no data, and lowering fuses each
// convolution with its bias and activation (conv_fwd) and each layer's backward into one conv_bwd,
// as dense layers are. The numerics are tests/runtime's (fp64 gradient checks and the op table,
// through graph_cases.h).
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "graph/plan.h"

namespace ae {
namespace {

constexpr const char* CLASSIC = "1x28x28-C16k3s2p1r-C32k3s2p1r-C64k7|-T32k7r-T16k3s2p1o1r-T1k3s2p1o1s";

std::map<PlanOpKind, int> kinds(const Plan& p) {
  std::map<PlanOpKind, int> k;
  for (const PlanOp& op : p.ops) ++k[op.kind];
  return k;
}

TEST(ConvPlan, ClassicModelFusesEachLayerForwardAndBackward) {
  const Plan p = make_plan(parse_spec(CLASSIC), GraphMode::train, Loss::bce, 128);
  auto k = kinds(p);
  EXPECT_EQ(k[PlanOpKind::conv_fwd], 6);
  EXPECT_EQ(k[PlanOpKind::conv_bwd], 6);
  EXPECT_EQ(k[PlanOpKind::loss_fwd_bwd], 1);
  EXPECT_EQ(k[PlanOpKind::optimizer_step], 1);
  EXPECT_EQ(int(p.ops.size()), 14) << plan_report(p);  // nothing left unfused
  for (const PlanOp& op : p.ops) {
    if (op.kind != PlanOpKind::conv_bwd) continue;
    EXPECT_GE(op.out[0], 0) << "every layer's dW";
    EXPECT_GE(op.out[1], 0) << "and db";
    // The first layer reads the data: no gradient for x.
    EXPECT_EQ(op.out[2] < 0, op.layer == 0) << "layer " << op.layer;
  }
  // The first layer's forward: conv + bias + relu, y is its input's NCHW image.
  const PlanOp& first = p.ops.front();
  ASSERT_EQ(first.kind, PlanOpKind::conv_fwd);
  EXPECT_EQ(first.rule, "conv2d+bias_add+activation");
  EXPECT_EQ(first.attr.act, Act::relu);
  EXPECT_EQ(first.attr.conv.in_c, 1);
  EXPECT_EQ(first.attr.conv.out_c, 16);
  EXPECT_EQ(first.attr.conv.out_h(), 14);
  const Tensor& y = p.graph.tensors[size_t(first.out[0])];
  EXPECT_TRUE(y.image);
  EXPECT_EQ(y.dims, (std::vector<int64_t>{16, 14, 14}));
  EXPECT_EQ(y.cols(), 16 * 14 * 14) << "an image's 2-D view is [B, C·H·W]";
  // The sigmoid output moved into bce-with-logits, as for dense models.
  const PlanOp* loss = nullptr;
  for (const PlanOp& op : p.ops)
    if (op.kind == PlanOpKind::loss_fwd_bwd) loss = &op;
  ASSERT_NE(loss, nullptr);
  EXPECT_TRUE(loss->from_logits);
  EXPECT_EQ(loss->n, 784);
  // FLOPs: the first layer's forward is 2·B·16·14·14·9 multiply-adds plus bias and relu.
  EXPECT_DOUBLE_EQ(first.flops(128, p.graph), 2.0 * 128 * 16 * 14 * 14 * 9 + 2.0 * 128 * 16 * 14 * 14);
  EXPECT_LT(p.arena_bytes, p.naive_bytes);
}

TEST(ConvPlan, UnfusedPlanRunsEveryPrimitiveAlone) {
  const Plan p = make_plan(parse_spec(CLASSIC), GraphMode::train, Loss::mse, 16, /*fuse=*/false);
  auto k = kinds(p);
  EXPECT_EQ(k[PlanOpKind::conv_fwd], 6);  // each conv2d alone: no bias, no activation
  for (const PlanOp& op : p.ops)
    if (op.kind == PlanOpKind::conv_fwd) EXPECT_TRUE(op.in[2] < 0 && op.attr.act == Act::linear);
  // 6 weight gradients and 5 data gradients (not for the input), each its own conv_bwd.
  EXPECT_EQ(k[PlanOpKind::conv_bwd], 11);
  int channel_bias = 0, channel_grad = 0;
  for (const PlanOp& op : p.ops) {
    channel_bias += op.kind == PlanOpKind::binary && op.attr.bcast == Broadcast::channel;
    channel_grad += op.kind == PlanOpKind::reduce && op.attr.axis == ReduceAxis::channels;
  }
  EXPECT_EQ(channel_bias, 6);
  EXPECT_EQ(channel_grad, 6);
  // A per-channel bias over the [B·C, H·W] view: the first layer's is [16·B, 196], G = 16.
  for (const PlanOp& op : p.ops)
    if (op.kind == PlanOpKind::binary && op.attr.bcast == Broadcast::channel && op.layer == 0) {
      const OpGeometry g = op_geometry(op, p.graph, 16);
      EXPECT_EQ(g.m, 16 * 16);
      EXPECT_EQ(g.n, 14 * 14);
      EXPECT_EQ(g.group, 16);
    }
}

TEST(ConvPlan, PoolsUpsamplesAndAReshapeBetweenDenseAndConv) {
  const Spec s = parse_spec("1x8x8-C4k3p1r-M2-16|-64r-R4x4x4-U2-C1k3p1s");
  const Plan p = make_plan(s, GraphMode::train, Loss::mse, 8);
  auto k = kinds(p);
  EXPECT_EQ(k[PlanOpKind::pool], 2);       // max pool, upsample
  EXPECT_EQ(k[PlanOpKind::pool_grad], 2);
  EXPECT_EQ(k[PlanOpKind::dense_fwd], 2);  // the reshape and the flatten add no op
  EXPECT_EQ(k[PlanOpKind::dense_bwd], 2);
  EXPECT_EQ(k[PlanOpKind::conv_fwd], 2);
  for (const PlanOp& op : p.ops)
    if (op.kind == PlanOpKind::pool_grad && op.attr.pool_kind == PoolKind::max) {
      ASSERT_GE(op.in[1], 0) << "a max pool's gradient re-reads x";
      EXPECT_EQ(p.graph.tensors[size_t(op.in[1])].dims, (std::vector<int64_t>{4, 8, 8}));
    }
  // The encoder alone ends at the dense code; the decoder alone starts from it.
  const Plan enc = make_plan(s, GraphMode::encode, Loss::mse, 8);
  EXPECT_EQ(enc.graph.tensors[size_t(enc.graph.outputs[0])].cols(), 16);
  const Plan dec = make_plan(s, GraphMode::decode, Loss::mse, 8);
  EXPECT_EQ(dec.graph.tensors[size_t(dec.graph.inputs[0])].cols(), 16);
  EXPECT_EQ(dec.graph.tensors[size_t(dec.graph.outputs[0])].cols(), 64);
}

TEST(ConvPlan, AnImageCodeDecodesFromItsShape) {
  const Spec s = parse_spec(CLASSIC);
  const Plan dec = make_plan(s, GraphMode::decode, Loss::mse, 4);
  const Tensor& code = dec.graph.tensors[size_t(dec.graph.inputs[0])];
  EXPECT_TRUE(code.image);
  EXPECT_EQ(code.dims, (std::vector<int64_t>{64, 1, 1}));
  EXPECT_EQ(dec.ops.front().kind, PlanOpKind::conv_fwd);
  EXPECT_TRUE(dec.ops.front().attr.conv.transposed);
}

}  // namespace
}  // namespace ae
