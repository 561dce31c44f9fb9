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

// Fused kinds first, then one unfused kind per primitive, so any IR node runs on every backend
// before anyone fuses it. Keep PLAN_OP_KIND_COUNT and plan_op_kind_name in step: the op table test
// (tests/runtime/op_table_test.cpp) enumerates them and fails on a kind without a case.
enum class PlanOpKind : uint8_t {
  // fused
  dense_fwd,       // in {x, W, b}                 out {y, [z]}       y = act(x̃·Wᵀ + b)
                   //   with attr.sparsity (the code layer): out {y, z|-1, value, colsum}, the penalty's
                   //   column sums taken in the epilogue (kernels/common/sparsity.h)
  dense_bwd,       // in {dy, y|-1, z|-1, x, W}    out {dW, db, dx|-1} dz = dy⊙act′ (in place of dy), dW from x̃
                   //   (x̃ = x, or corrupt(x) regenerated as x is loaded when attr.noise is set: the first
                   //   layer of a denoising model, whose corrupted input is then never stored)
                   //   with attr.sparsity: in {dy, y|-1, z|-1, x, W, h, colsum, dvalue}, and dz = (dy +
                   //   the penalty's gradient at h)⊙act′: the code's gradient is summed on load
                   //   with z_penalty: in {…, z, norms, dvalue}, dz = dy⊙act′ + the contractive
                   //   penalty's gradient at z (a one-layer encoder)
  loss_fwd,        // in {pred, target}            out {loss, per_sample}
  loss_fwd_bwd,    // in {pred, target}            out {loss, per_sample, dpred} (dpred: ∂L/∂z when act)
  optimizer_step,  // in {p0, g0, p1, g1, ...}     out {} or, under mixed precision, {c0, c1, ...}: param i's
                   //   compute copy (param_copy, written in the same pass) or -1
  // unfused primitives
  matmul,          // in {A, B}  out {C}: C[m,n] (+)= op(A)·op(B); m, n, k < 0 mean the run's batch
  activation,      // in {x}  out {y}: y = act(x)
  activation_grad, // in {dy, z|-1, y|-1}  out {dx}: dx = dy ⊙ act′
  activation_grad2,// in {dy, z}  out {dx}: dx = dy ⊙ act″(z)
  unary,           // in {x}  out {y}: y = scale·f(x)
  binary,          // in {a, b}  out {y}: y (+)= a ∘ b, b broadcast over a's [rows, cols] view
  reduce,          // in {x}  out {y}: y (+)= scale·Σ x over axis of x's [rows, cols] view (÷ count when mean)
  broadcast,       // in {x}  out {y}: y (+)= scale·x broadcast over y's [rows, cols] view (÷ count when mean)
  fill,            // in {}   out {y}: y = scale
  copy,            // in {x}  out {y}: y = x (stop_gradient)
  noise,           // in {x}  out {y}: y = corrupt(x) with attr.noise at the step's (seed, step)
  sparsity,        // in {h}  out {value, colsum}: attr.sparsity's penalty on the code h
  sparsity_grad,   // in {dvalue, h, colsum}  out {dh}: dh (+)= dvalue·∂value/∂h
  contractive,     // in {z, W}  out {value, s, norms}: a one-layer encoder's penalty in closed form
  contractive_grad,   // in {dvalue, z, norms}  out {dz}: dz (+)= dvalue·∂value/∂z
  contractive_grad_w, // in {dvalue, W, s}  out {dW}: dW (+)= dvalue·∂value/∂W (through the row norms)
  reparam,         // in {h}  out {z, value, kl}: a VAE's z = μ + σ⊙ε from h = μ ‖ log σ², with its KL
                   //   (kernels/common/vae.h), at the step's (seed, step, row_offset)
  reparam_grad,    // in {dz, h, dvalue}  out {dh}: both paths' gradient, ε regenerated
  prior,           // in {}   out {y}: y = samples of attr.prior at the step's (seed, step), element by element
  cast,            // in {x}  out {y}: y = x converted to y's dtype (mixed precision: graph/precision.cpp)
  // fp16's dynamic loss scaling (graph/precision.cpp, kernels/common/amp.h), on the op's loss_scale state:
  unscale_grads,   // in {g0, g1, ...}  out {}: g *= 1/scale in place; any inf or NaN flags the step
  update_scale,    // in {}  out {}: the scale halves after a flagged step (counted as skipped), doubles
                   //   after 2000 clean ones; clears the flag
  // convolutional layers (attr.conv: the geometry, its batch the run's):
  conv_fwd,        // in {x, W, b|-1}  out {y, z|-1}: y = act(conv(x, W) + b) — fused conv2d + bias_add +
                   //   activation, and a lone conv2d node (no b, act linear)
  conv_bwd,        // in {dy, y|-1, z|-1, x|-1, W}  out {dW|-1, db|-1, dx|-1}: dz = dy⊙act′ (written over dy
                   //   on the cpu, as dense_bwd), dW (+)= the weight gradient, db (+)= Σ dz per channel,
                   //   dx = the data gradient — fused, or a lone conv2d_grad_w (out {dW}) / _x (out {dx})
  pool,            // in {x}  out {y}: attr.pool_kind over attr.pool (max, avg) or attr.upsample
  pool_grad,       // in {dy, x|-1}  out {dx}: its gradient (max re-finds each window's argmax in x)
};
constexpr int PLAN_OP_KIND_COUNT = int(PlanOpKind::pool_grad) + 1;
const char* plan_op_kind_name(PlanOpKind k);

struct PlanOp {
  PlanOpKind kind;
  std::string rule;          // the fusion rule that produced it (for `ae plan`)
  std::vector<int> in, out;  // tensor ids; -1 = absent operand
  // act (dense: applied here; loss_fwd_bwd: act′ applied to dpred), loss, the unfused kinds'
  // parameters, and accumulate: the op adds into the parameter gradient(s) it writes (dense_bwd:
  // into dW; db has its own flag below).
  Attrs attr;
  // dense_bwd, conv_bwd: db is added to. Apart from dW's attr.accumulate because a weight's gradient can
  // have an earlier writer its bias's has not (tied weights, the contractive penalty's ∂/∂W).
  bool accumulate_db = false;
  // dense_bwd of a one-layer encoder with the contractive penalty (kernels/common/contractive.h):
  // in {dy, y|-1, z|-1, x, W, z, norms, dvalue}, dz = dy⊙act′ + dvalue·∂penalty/∂z as dy is loaded.
  bool z_penalty = false;
  bool from_logits = false;  // loss: pred holds logits z of a sigmoid output
  bool trans_a = false, trans_b = false;  // matmul
  int layer = -1;
  int64_t m = -1, n = 0, k = 0;  // dense: out and in features (M is the batch); matmul: C[m,n], reduction k
  std::vector<int> fused_nodes;  // IR nodes this op replaced
  // out[inplace.first] may take over the block of in[inplace.second] when that input dies here
  // (an elementwise kernel that reads each element before writing it). {-1, -1}: none.
  std::pair<int, int> inplace{-1, -1};
  // fp16 plans (graph/precision.cpp): the loss-scaling state (a TensorRole::loss_scale tensor) the
  // op reads. loss_fwd_bwd and fill multiply the gradient they seed by its scale, optimizer_step
  // changes nothing on a step unscale_grads flagged, and those two kinds and update_scale keep it.
  // -1: none.
  int loss_scale = -1;

  // Whether the op adds into its output out[i] (a parameter gradient) rather than overwriting it.
  bool accumulates(size_t i) const {
    if (kind != PlanOpKind::dense_bwd && kind != PlanOpKind::conv_bwd) return attr.accumulate;
    return i == 0 ? attr.accumulate : i == 1 && accumulate_db;  // {dW, db, dx}: dx is always written
  }

  double flops(int64_t batch, const Graph& g) const;
  double bytes(int64_t batch, const Graph& g) const;  // global-memory traffic at the tensors' dtypes
};

// A dense op with nothing fused into its GEMM (no corrupted input, no code penalty): what the
// tensor-core kernels run, so the ops mixed precision and tf32 give them (graph/precision.cpp, the
// cuda backend, `ae plan`'s rooflines).
inline bool is_plain_dense(const PlanOp& op) {
  return (op.kind == PlanOpKind::dense_fwd || op.kind == PlanOpKind::dense_bwd) && op.attr.noise.kind == NoiseKind::none &&
         op.attr.sparsity.kind == SparsityKind::none && !op.z_penalty;
}

// A convolution's geometry at `batch` rows (conv ops), and its multiply-adds: one GEMM of the
// layer's implicit im2col, the same count for the forward, the data and the weight gradient.
ConvGeometry conv_geometry(const PlanOp& op, int64_t batch);
double conv_macs(const ConvGeometry& g);
// A pool op's geometry at `batch` rows (attr.pool or attr.upsample, as attr.pool_kind says).
PoolGeometry pool_geometry(const PlanOp& op, int64_t batch);
UpsampleGeometry upsample_geometry(const PlanOp& op, int64_t batch);

// A matmul dimension at run time: −g means g rows per sample, g·batch (−1: the batch).
inline int64_t plan_dim(int64_t d, int64_t batch) { return d < 0 ? -d * batch : d; }

// What an unfused op runs over at `batch` rows, the same for every backend: matmul C[m,n] with
// reduction k; binary/reduce the [m, n] view of their first input, broadcast of their output;
// unary, activation(_grad), fill and copy m elements (n = 1). alpha is the op's scale, divided by
// the number of elements summed when the op takes a mean.
struct OpGeometry {
  int64_t m = 0, n = 1, k = 0;
  double alpha = 1;
  int64_t group = 1;  // rows per sample of the [B·G, n] operand (Broadcast::sample/tile, ReduceAxis::groups/samples)
};
OpGeometry op_geometry(const PlanOp& op, const Graph& g, int64_t batch);

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
  DType precision = DType::f32;    // the compute dtype of its GEMMs and their activations (graph/precision.cpp)
  int loss_scale = -1;             // fp16 train plans: the loss-scaling state tensor (graph/precision.cpp)
  bool tf32 = false;               // fp32 tensors, GEMM operands rounded to tf32 on the tensor cores (cuda)
  Precision precision_setting() const {
    return tf32 ? Precision::tf32_math() : Precision(precision);
  }

  double total_flops() const;
  double total_bytes() const;
};

constexpr int64_t ARENA_ALIGN = 128;

// Fuses the IR into Plan ops (graph/lower.cpp) and plans the arena (graph/planner.cpp).
// fuse = false gives every primitive its own unfused op (the reference the fusions are tested against).
// precision: the dtype the GEMMs compute in (graph/precision.cpp; f32 leaves every tensor f32), or
// tf32 math on fp32 tensors.
Plan make_plan(Graph graph, GraphMode mode, int64_t batch, bool fuse = true, Precision precision = DType::f32);
// The Plan of `mode` for a spec: build_graph (graph/build.h), then the above.
Plan make_plan(const Spec& spec, GraphMode mode, Loss loss, int64_t batch, bool fuse = true,
               Precision precision = DType::f32);
std::vector<PlanOp> lower(const Graph& g, bool fuse = true);
// Mixed precision (graph/precision.cpp): gives the tensors of the ops that compute in `compute`
// that dtype, the parameters they read a compute copy, and inserts casts where an op that runs
// in fp32 only meets a low-precision tensor or the other way round. Between lower() and the
// memory plan.
void apply_precision(Plan& plan, DType compute);
void plan_memory(Plan& plan);
// Throws unless every parameter gradient is overwritten by its first writer and accumulated by the rest.
void check_gradient_order(const Plan& plan);

// `ae plan`: a table (or JSON) of ops, their kernels, FLOPs and bytes, and arena vs naive sum.
std::string plan_report(const Plan& plan);
nlohmann::json plan_json(const Plan& plan);

}  // namespace ae
