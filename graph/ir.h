// ae's IR: a static graph of primitive ops over 2-D tensors. Batch-major tensors have a symbolic
// first dimension (the batch); parameters have fixed shapes. Autodiff adds backward nodes of the
// same primitive kinds; lowering (graph/lower.h) fuses patterns of them into Plan ops.
// New model kinds (corruption, sparsity, Jacobian, VAE heads, tied weights, convolution) are new
// OpTypes with a backward rule in autodiff.cpp and, when worth it, a fusion rule in lower.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/common/activation.h"
#include "kernels/common/loss.h"

namespace ae {

enum class TensorRole : uint8_t {
  input,       // fed by the host each step: [batch, features]
  param,       // persistent weights/biases
  param_grad,  // gradient of a param, persistent between backward and the optimizer
  activation,  // forward intermediate, [batch, features]
  gradient,    // backward intermediate, [batch, features]
  output,      // kept after the step (per-sample errors, codes, reconstructions); never freed
  scalar,      // a loss value (host-visible)
};

struct Tensor {
  std::string name;
  TensorRole role = TensorRole::activation;
  bool batched = true;    // first dimension is the batch
  int64_t rows = 1;       // fixed rows when not batched
  int64_t cols = 1;       // features (or in-features of a weight)
  int param = -1;         // index in Graph::params for param / param_grad
  int64_t elements(int64_t batch) const { return (batched ? batch : rows) * cols; }
};

enum class OpType : uint8_t {
  // forward
  matmul_wt,         // y = x · Wᵀ                     in: x [B,K], W [N,K]        out: y [B,N]
  bias_add,          // y = x + b                      in: x [B,N], b [1,N]        out: y [B,N]
  activation,        // y = act(x)                     in: x                        out: y
  loss,              // L = mean ℓ(y, t), e = per row  in: y, t                     out: L, e [B,1]
  // backward
  loss_grad,         // dy = ∂L/∂y                     in: y, t                     out: dy
  activation_grad,   // dx = dy ⊙ act′                 in: dy, x (pre), y (post)    out: dx
  bias_grad,         // db = Σ_rows dy                 in: dy                       out: db
  matmul_wt_grad_w,  // dW = dyᵀ · x                   in: dy, x                    out: dW
  matmul_wt_grad_x,  // dx = dy · W                    in: dy, W                    out: dx
  add,               // y = a + b (gradient accumulation)  in: a, b                 out: y
  optimizer_update,  // p ← update(p, g, state)        in: p, g                     out: (p, in place)
};

const char* op_type_name(OpType t);

struct Node {
  OpType type;
  std::vector<int> in;    // tensor ids
  std::vector<int> out;   // tensor ids
  Act act = Act::linear;  // activation / activation_grad
  Loss loss = Loss::mse;  // loss / loss_grad
  int layer = -1;         // the spec layer this node belongs to (for names and reports)
};

struct Param {
  std::string name;       // PyTorch state_dict name, e.g. encoder.0.weight
  int tensor = -1;        // its Tensor
  int grad = -1;          // its gradient Tensor, once autodiff ran
  int64_t rows = 1, cols = 1;
};

struct Graph {
  std::vector<Tensor> tensors;
  std::vector<Node> nodes;
  std::vector<Param> params;
  std::vector<int> inputs;    // host-fed tensors
  std::vector<int> outputs;   // tensors the caller reads after a run
  int loss = -1;              // scalar loss tensor, or -1
  int per_sample = -1;        // per-sample error tensor, or -1

  int add_tensor(Tensor t);
  int add_node(Node n);
  int add_param(const std::string& name, int64_t rows, int64_t cols);
  // Nodes reading tensor t, in order.
  std::vector<int> consumers(int t) const;
  int producer(int t) const;  // node writing t, or -1
};

}  // namespace ae
