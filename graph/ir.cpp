// IR container helpers.
#include "graph/ir.h"

#include "kernels/common/error.h"

namespace ae {

const char* op_type_name(OpType t) {
  switch (t) {
    case OpType::matmul_wt: return "matmul_wt";
    case OpType::bias_add: return "bias_add";
    case OpType::activation: return "activation";
    case OpType::loss: return "loss";
    case OpType::loss_grad: return "loss_grad";
    case OpType::activation_grad: return "activation_grad";
    case OpType::bias_grad: return "bias_grad";
    case OpType::matmul_wt_grad_w: return "matmul_wt_grad_w";
    case OpType::matmul_wt_grad_x: return "matmul_wt_grad_x";
    case OpType::add: return "add";
    case OpType::optimizer_update: return "optimizer_update";
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

int Graph::add_param(const std::string& name, int64_t rows, int64_t cols) {
  Tensor t;
  t.name = name;
  t.role = TensorRole::param;
  t.batched = false;
  t.rows = rows;
  t.cols = cols;
  t.param = int(params.size());
  int id = add_tensor(t);
  params.push_back(Param{name, id, -1, rows, cols});
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
