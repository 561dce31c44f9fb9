// ae's IR: a static graph of primitive nodes over typed tensors of up to 4 dimensions. Batched
// tensors have a symbolic first dimension (the batch); parameters have fixed shapes. Autodiff
// (graph/autodiff.cpp) adds backward nodes of the same primitive kinds; lowering (graph/lower.cpp)
// fuses patterns of them into Plan ops and gives every node no rule takes its own unfused op.
// A new model kind (corruption noise, a penalty, a VAE head, convolution) is a new OpType with an
// attribute in Attrs, a backward rule in autodiff.cpp, a kernel per backend and, where it pays, a
// fusion rule — nothing else in graph/ changes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/common/activation.h"
#include "kernels/common/conv_geometry.h"
#include "kernels/common/dtype.h"
#include "kernels/common/elementwise.h"
#include "kernels/common/loss.h"
#include "kernels/common/noise.h"
#include "kernels/common/prior.h"
#include "kernels/common/sparsity.h"
#include "kernels/common/vae.h"

namespace ae {


enum class TensorRole : uint8_t {
  input,       // fed by the host each step: [batch, features]
  param,       // persistent weights/biases
  param_grad,  // gradient of a param, persistent between backward and the optimizer
  param_copy,  // a param's low-precision compute copy (mixed precision): persistent, in the parameter
               // store, written by the optimizer step as it updates the param (graph/precision.cpp)
  loss_scale,  // fp16's dynamic loss-scaling state (kernels/common/amp.h, 4 words): persistent, in the
               // parameter store, kept by the device across steps (graph/precision.cpp)
  activation,  // forward intermediate, [batch, ...]
  gradient,    // backward intermediate, [batch, ...]
  output,      // kept after the step (per-sample errors, codes, reconstructions); never freed
  scalar,      // an objective term's value (host-visible), or a gradient seed
};

constexpr int MAX_RANK = 4;

struct Tensor {
  std::string name;
  TensorRole role = TensorRole::activation;
  DType dtype = DType::f32;
  bool batched = true;          // dimension 0 is the batch, sized per run
  std::vector<int64_t> dims;    // the other dimensions, outermost first (a [B, 784] tensor: {784})
  int param = -1;               // index in Graph::params for param / param_grad
  // An image per sample, dims {C, H, W} (NCHW): what convolutions and pools read and write. Its
  // 2-D view is [B, C·H·W] like a flat tensor's, so elementwise ops, losses and dense layers read it
  // unchanged (PyTorch's nn.Flatten costs nothing); a convolution reads its geometry from the node.
  bool image = false;

  int rank() const { return int(dims.size()) + (batched ? 1 : 0); }
  // Elements of one sample (batched) or of the whole tensor (not batched).
  int64_t features() const;
  // The 2-D view kernels take: [rows, cols] with cols the innermost dimension, so a batched
  // [B, n] tensor is [B, n] and a batched [B, G, n] one (G rows per sample: the contractive
  // penalty's per-sample Jacobian rows) is [B·G, n]; a fixed tensor is [features / cols, cols].
  int64_t cols() const { return image ? features() : dims.empty() ? 1 : dims.back(); }
  int64_t rows_per_sample() const { return features() / cols(); }
  int64_t rows(int64_t batch) const { return (batched ? batch : 1) * rows_per_sample(); }
  int64_t elements(int64_t batch) const { return (batched ? batch : 1) * features(); }
  int64_t bytes(int64_t batch) const { return elements(batch) * dtype_bytes(dtype); }
};

// A batched [B, features] tensor, a batched image [B, C, H, W], and a fixed-shape one.
Tensor batched_tensor(std::string name, TensorRole role, std::vector<int64_t> dims);
Tensor image_tensor(std::string name, TensorRole role, int64_t c, int64_t h, int64_t w);
Tensor fixed_tensor(std::string name, TensorRole role, std::vector<int64_t> dims);

enum class OpType : uint8_t {
  // forward
  linear,          // y = x·Wᵀ (W [N,K]); trans_w: y = x·W (W [K,N])  in: x [B,K], W   out: y [B,N]
  bias_add,        // y = x + b                    in: x [B,N], b [N]                    out: y [B,N]
                   //   (attr.bcast channel: x an image [B,C,H,W], b [C] per channel)
  activation,      // y = act(x)                   in: x                                  out: y
  unary,           // y = scale·f(x), f = unary    in: x                                  out: y
  binary,          // y = a ∘ b, b broadcast       in: a [B,N], b (per broadcast)         out: y [B,N]
  reduce,          // y = scale·Σ x over axis      in: x [B,N]                            out: y ([N], [B,1] or [1])
  stop_gradient,   // y = x, no gradient flows back                                      (in: x, out: y)
  noise,           // y = corrupt(x), fresh per step (Philox: seed, step, element); data only: no gradient
  prior,           // y = samples of attr.prior, fresh per step (kernels/common/prior.h)  in: —  out: y [B,N]
                   //   (an adversarial autoencoder's "real" codes); data only: no gradient
  sparsity,        // a penalty on the code (kernels/common/sparsity.h)  in: h [B,N]  out: value [1], colsum [N]
  contractive,     // a one-layer encoder's ‖∂h/∂x‖²_F in closed form (kernels/common/contractive.h)
                   //   in: z [B,N], W [N,K]   out: value [1], s [N] (Σ_b a′²), norms [N] (‖W_j‖²)
  reparam,         // a VAE's code from its head (kernels/common/vae.h): z = μ + σ⊙ε and the KL term
                   //   in: h [B,2N] (μ ‖ log σ²)   out: z [B,N], value [1] (mean KL), kl [B,1] (per row)
  loss,            // L = mean ℓ(y, t), e = per row  in: y, t                           out: L [1], e [B,1]
  conv2d,          // y = conv(x, W) (attr.conv; transposed: nn.ConvTranspose2d)  in: x [B,C,H,W], W  out: y [B,C',H',W']
                   //   (the bias is a bias_add with Broadcast::channel after it)
  pool,            // y = window op of attr.pool_kind over x (attr.pool, or attr.upsample)  in: x  out: y
  // backward (and constants)
  fill,            // y = scale everywhere         in: —                                  out: y
  broadcast,       // y[b,n] = scale·x[axis view]  in: x ([N], [B,1] or [1])              out: y [B,N]
  loss_grad,       // dy = ∂L/∂y                   in: y, t                               out: dy
  activation_grad, // dx = dy ⊙ act′               in: dy, x (pre), y (post)              out: dx
                   //   (a function of dy and the pre-activation; also a forward node: act′ itself)
  activation_grad2,// dx = dy ⊙ act″(z)            in: dy, z (pre)                        out: dx
  bias_grad,       // db = Σ_rows dy               in: dy                                 out: db
                   //   (attr.bcast channel: Σ over batch, rows and columns per channel)
  linear_grad_w,   // dW = dyᵀ·x (trans_w: xᵀ·dy)  in: dy, x                              out: dW
  linear_grad_x,   // dx = dy·W (trans_w: dy·Wᵀ)   in: dy, W                              out: dx
  add,             // y = a + b (gradient accumulation of activations)  in: a, b         out: y
  sparsity_grad,   // dh = dvalue·∂value/∂h        in: dvalue [1], h, colsum [N]           out: dh [B,N]
  contractive_grad,   // dz = dvalue·∂value/∂z     in: dvalue [1], z [B,N], norms [N]      out: dz [B,N]
  contractive_grad_w, // dW = dvalue·∂value/∂W     in: dvalue [1], W [N,K], s [N]          out: dW [N,K]
  reparam_grad,    // dh = ∂(z, value)/∂h         in: dz [B,N]|-1, h [B,2N], dvalue [1]|-1  out: dh [B,2N]
  conv2d_grad_x,   // dx = the data gradient of conv2d at dy (attr.conv)   in: dy, W    out: dx
  conv2d_grad_w,   // dW = the weight gradient of conv2d at dy (attr.conv) in: dy, x    out: dW
  pool_grad,       // dx = the gradient of pool at dy  in: dy, x (max: each window's argmax is recomputed
                   //   from x, so no index tensor is kept; -1 for avg and upsample)   out: dx
  optimizer_update,// p ← update(p, g, state)      in: p, g                               out: (p, in place)
};
const char* op_type_name(OpType t);
constexpr int OP_TYPE_COUNT = int(OpType::optimizer_update) + 1;

// What a pool node computes (PyTorch: F.max_pool2d, F.avg_pool2d with count_include_pad,
// nn.Upsample(mode="nearest")); the first two read Attrs::pool, upsample Attrs::upsample.
enum class PoolKind : uint8_t { max, avg, upsample };
const char* pool_kind_name(PoolKind k);

// The typed attribute record of a node. Each kind reads the fields it documents; the rest keep
// their defaults. New kinds add their parameters here (noise, convolution geometry).
struct Attrs {
  Act act = Act::linear;                 // activation, activation_grad
  Loss loss = Loss::mse;                 // loss, loss_grad
  bool trans_w = false;                  // linear*: W is used transposed (a tied decoder's x·W)
  UnaryOp unary = UnaryOp::scale;        // unary
  BinaryOp binary = BinaryOp::add;       // binary
  Broadcast bcast = Broadcast::none;     // binary (how b is broadcast), broadcast (what x is)
  ReduceAxis axis = ReduceAxis::all;     // reduce
  bool mean = false;                     // reduce / broadcast: also divide by the elements summed (at run time)
  double scale = 1.0;                    // unary, reduce, broadcast, fill: a constant factor
  int64_t ramp = 0;                      // fill: > 0 ramps the value as a Term's weight (Term::ramp)
  bool accumulate = false;               // the output is a param gradient an earlier node wrote: add to it
  int group = 0;                         // optimizer_update: the parameter's optimizer group
  NoiseParams noise;                     // noise; a fused op: the corruption its x operand is loaded through
  SparsityParams sparsity;               // sparsity(_grad); a fused dense op: the penalty on its output
  LossReduction reduction = LossReduction::mean;  // loss, loss_grad
  VaeParams vae;                         // reparam
  PriorKind prior = PriorKind::gaussian; // prior
  // conv2d(_grad_*): the layer's geometry with batch 0 (each run sets its batch). bias_add uses
  // bcast = Broadcast::channel for a convolution's per-channel bias (bias_grad then sums per channel).
  ConvGeometry conv;
  PoolKind pool_kind = PoolKind::max;    // pool(_grad)
  PoolGeometry pool;                     // pool(_grad) of kind max or avg, batch 0
  UpsampleGeometry upsample;             // pool(_grad) of kind upsample, batch 0
};

struct Node {
  OpType type;
  std::vector<int> in;    // tensor ids
  std::vector<int> out;   // tensor ids
  Attrs attr;
  int layer = -1;         // the spec layer this node belongs to (for names and reports)
  int term = -1;          // the objective term a penalty's node (or its gradient) serves, for `ae plan`'s costs
};

struct Param {
  std::string name;       // PyTorch state_dict name, e.g. encoder.0.weight
  int tensor = -1;        // its Tensor
  int grad = -1;          // its gradient Tensor (the first writer's), once autodiff ran; -1 when not trained
  int group = 0;          // optimizer group (its own optimizer and state); a phase trains some groups
};

// A named, weighted scalar term of the objective: reconstruction, KL, sparsity, contractive, ...
// Autodiff seeds each with its weight; the executor reports each one's value every step.
struct Term {
  std::string name;
  double weight = 1.0;
  int tensor = -1;        // a [1] scalar tensor
  // > 0: the weight ramps linearly from 0 over this many steps (a VAE's KL warm-up): at training
  // step t it is weight·min(1, (t − 1)/ramp) (ramp_weight in kernels/common/elementwise.h).
  int64_t ramp = 0;
  double weight_at(int64_t step) const;
};

struct Graph {
  std::vector<Tensor> tensors;
  std::vector<Node> nodes;
  std::vector<Param> params;
  std::vector<Term> terms;    // the objective, Σ weight·value (train and eval graphs)
  std::vector<int> inputs;    // host-fed tensors
  std::vector<int> outputs;   // tensors the caller reads after a run
  int per_sample = -1;        // per-sample error tensor, or -1
  int backward_begin = -1;    // first node autodiff added (nodes before it are the forward), or -1
  int phase = 0;              // train graphs: the training phase it differentiates (BuildOptions::phase)

  int add_tensor(Tensor t);
  int add_node(Node n);
  int add_node(OpType type, std::vector<int> in, std::vector<int> out, Attrs attr = {}, int layer = -1);
  int add_param(const std::string& name, std::vector<int64_t> dims, int group = 0);
  // Nodes reading tensor t, in order.
  std::vector<int> consumers(int t) const;
  int producer(int t) const;  // first node writing t, or -1
};

}  // namespace ae
