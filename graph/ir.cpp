// IR container helpers.
#include "graph/ir.h"

#include "kernels/common/error.h"

namespace ae {

const char* op_type_name(OpType t) {
  switch (t) {
    case OpType::linear: return "linear";
    case OpType::bias_add: return "bias_add";
    case OpType::activation: return "activation";
    case OpType::unary: return "unary";
    case OpType::binary: return "binary";
    case OpType::reduce: return "reduce";
    case OpType::stop_gradient: return "stop_gradient";
    case OpType::noise: return "noise";
    case OpType::prior: return "prior";
    case OpType::sparsity: return "sparsity";
    case OpType::contractive: return "contractive";
    case OpType::reparam: return "reparam";
    case OpType::loss: return "loss";
    case OpType::conv2d: return "conv2d";
    case OpType::pool: return "pool";
    case OpType::conv2d_grad_x: return "conv2d_grad_x";
    case OpType::conv2d_grad_w: return "conv2d_grad_w";
    case OpType::pool_grad: return "pool_grad";
    case OpType::fill: return "fill";
    case OpType::broadcast: return "broadcast";
    case OpType::loss_grad: return "loss_grad";
    case OpType::activation_grad: return "activation_grad";
    case OpType::activation_grad2: return "activation_grad2";
    case OpType::bias_grad: return "bias_grad";
    case OpType::linear_grad_w: return "linear_grad_w";
    case OpType::linear_grad_x: return "linear_grad_x";
    case OpType::add: return "add";
    case OpType::sparsity_grad: return "sparsity_grad";
    case OpType::contractive_grad: return "contractive_grad";
    case OpType::contractive_grad_w: return "contractive_grad_w";
    case OpType::reparam_grad: return "reparam_grad";
    case OpType::optimizer_update: return "optimizer_update";
  }
  return "?";
}

double Term::weight_at(int64_t step) const { return ramp_weight(weight, step, ramp); }

int64_t Tensor::features() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

namespace {
Tensor make_tensor(std::string name, TensorRole role, std::vector<int64_t> dims, bool batched) {
  Tensor t;
  t.name = std::move(name);
  t.role = role;
  t.dims = std::move(dims);
  t.batched = batched;
  AE_CHECK(t.rank() <= MAX_RANK, "tensor ", t.name, " has ", t.rank(), " dimensions; at most ", MAX_RANK);
  return t;
}
}  // namespace

Tensor batched_tensor(std::string name, TensorRole role, std::vector<int64_t> dims) {
  return make_tensor(std::move(name), role, std::move(dims), true);
}

Tensor fixed_tensor(std::string name, TensorRole role, std::vector<int64_t> dims) {
  return make_tensor(std::move(name), role, std::move(dims), false);
}

Tensor image_tensor(std::string name, TensorRole role, int64_t c, int64_t h, int64_t w) {
  Tensor t = batched_tensor(std::move(name), role, {c, h, w});
  t.image = true;
  return t;
}

const char* pool_kind_name(PoolKind k) {
  switch (k) {
    case PoolKind::max: return "max";
    case PoolKind::avg: return "avg";
    case PoolKind::upsample: return "upsample";
  }
  return "?";
}

int Graph::add_tensor(Tensor t) {
  tensors.push_back(std::move(t));
  return int(tensors.size()) - 1;
}

int Graph::add_node(Node n) {
  for (int t : n.in) AE_CHECK(t >= 0 && t < int(tensors.size()), "node input refers to no tensor");
  for (int t : n.out) AE_CHECK(t >= 0 && t < int(tensors.size()), "node output refers to no tensor");
  nodes.push_back(std::move(n));
  return int(nodes.size()) - 1;
}

int Graph::add_node(OpType type, std::vector<int> in, std::vector<int> out, Attrs attr, int layer) {
  return add_node(Node{type, std::move(in), std::move(out), attr, layer});
}

int Graph::add_param(const std::string& name, std::vector<int64_t> dims, int group) {
  Tensor t = fixed_tensor(name, TensorRole::param, std::move(dims));
  t.param = int(params.size());
  int id = add_tensor(t);
  params.push_back(Param{name, id, -1, group});
  return id;
}

std::vector<int> Graph::consumers(int t) const {
  std::vector<int> out;
  for (int i = 0; i < int(nodes.size()); ++i)
    for (int x : nodes[i].in)
      if (x == t) {
        out.push_back(i);
        break;
      }
  return out;
}

int Graph::producer(int t) const {
  for (int i = 0; i < int(nodes.size()); ++i)
    for (int x : nodes[i].out)
      if (x == t) return i;
  return -1;
}

}  // namespace ae
