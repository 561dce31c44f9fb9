// A Plan: the flat list of fused ops a backend runs, each referring to tensors by id, plus the
// memory plan: an arena offset for every batch tensor (activations, gradients, inputs, outputs)
// and the parameter store for params, their gradients and the optimizer state.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "graph/build.h"
#include "graph/ir.h"

namespace ae {

enum class PlanOpKind : uint8_t {
  dense_fwd,       // in {x, W, b}                 out {y, [z]}       y = act(x·Wᵀ + b)
  dense_bwd,       // in {dy, y|-1, z|-1, x, W}    out {dW, db, dx|-1} dz = dy⊙act′ (in place of dy)
  loss_fwd,        // in {pred, target}            out {loss, per_sample}
  loss_fwd_bwd,    // in {pred, target}            out {loss, per_sample, dpred} (dpred: ∂L/∂z when act)
  add,             // in {a, b}                    out {y}
  optimizer_step,  // in {p0, g0, p1, g1, ...}     out {}
};
const char* plan_op_kind_name(PlanOpKind k);

struct PlanOp {
  PlanOpKind kind;
  std::string rule;          // the fusion rule that produced it (for `ae plan`)
  std::vector<int> in, out;  // tensor ids; -1 = absent operand
  Act act = Act::linear;     // dense: the layer's activation applied here; loss_fwd_bwd: act′ applied to dpred
  Loss loss = Loss::mse;
  bool from_logits = false;  // loss: pred holds logits z of a sigmoid output
  int layer = -1;
  int64_t n = 0, k = 0;      // dense: out and in features (M is the batch)
  std::vector<int> fused_nodes;  // IR nodes this op replaced
  // out[inplace.first] may take over the block of in[inplace.second] when that input dies here
  // (an elementwise kernel that reads each element before writing it). {-1, -1}: none.
  std::pair<int, int> inplace{-1, -1};

  double flops(int64_t batch, const Graph& g) const;
  double bytes(int64_t batch, const Graph& g) const;  // global-memory traffic, fp32
};

struct BufferPlan {
  int tensor = -1;
  int64_t offset = -1;   // bytes into the arena; -1 for params (parameter store)
  int64_t bytes = 0;     // at the planned batch
  int first_op = -1;     // op that writes it (-1: host input, written before op 0)
  int last_op = -1;      // last op that reads it (INT_MAX for outputs)
  int alias_of = -1;     // tensor whose block it took over in place at first_op, or -1
};

struct Plan {
  Graph graph;
  GraphMode mode = GraphMode::train;
  int64_t batch = 0;               // worst-case batch the arena is reserved for
  std::vector<PlanOp> ops;
  std::vector<BufferPlan> buffers; // one per arena tensor
  std::vector<int64_t> tensor_offset;  // tensor id → arena offset (-1: not in the arena)
  int64_t arena_bytes = 0;
  int64_t naive_bytes = 0;         // sum of all arena tensors, as if none were reused

  double total_flops() const;
  double total_bytes() const;
};

constexpr int64_t ARENA_ALIGN = 128;

// Fuses the IR into Plan ops (graph/lower.cpp) and plans the arena (graph/planner.cpp).
Plan make_plan(Graph graph, GraphMode mode, int64_t batch);
// The Plan of `mode` for a spec: build_graph (graph/build.h), then the above.
Plan make_plan(const Spec& spec, GraphMode mode, Loss loss, int64_t batch);
std::vector<PlanOp> lower(const Graph& g);
void plan_memory(Plan& plan);

// `ae plan`: a table (or JSON) of ops, their kernels, FLOPs and bytes, and arena vs naive sum.
std::string plan_report(const Plan& plan);
nlohmann::json plan_json(const Plan& plan);

}  // namespace ae
