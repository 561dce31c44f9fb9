// Plan figures (FLOPs, bytes) and the `ae plan` report.
#include "graph/plan.h"

#include <cstdio>
#include <sstream>

#include <nlohmann/json.hpp>

namespace ae {

const char* plan_op_kind_name(PlanOpKind k) {
  switch (k) {
    case PlanOpKind::dense_fwd: return "dense_fwd";
    case PlanOpKind::dense_bwd: return "dense_bwd";
    case PlanOpKind::loss_fwd: return "loss_fwd";
    case PlanOpKind::loss_fwd_bwd: return "loss_fwd_bwd";
    case PlanOpKind::add: return "add";
    case PlanOpKind::optimizer_step: return "optimizer_step";
  }
  return "?";
}

namespace {
double elems(const Graph& g, int t, int64_t batch) { return t < 0 ? 0.0 : double(g.tensors[t].elements(batch)); }
}  // namespace

double PlanOp::flops(int64_t batch, const Graph& g) const {
  double m = double(batch), mn = m * double(n);
  switch (kind) {
    case PlanOpKind::dense_fwd: return 2.0 * mn * double(k) + 2.0 * mn;
    case PlanOpKind::dense_bwd: return 2.0 * mn * double(k) * (out[2] >= 0 ? 2.0 : 1.0) + 2.0 * mn;
    case PlanOpKind::loss_fwd: return 4.0 * mn;
    case PlanOpKind::loss_fwd_bwd: return 6.0 * mn;
    case PlanOpKind::add: return elems(g, out[0], batch);
    case PlanOpKind::optimizer_step: {
      double p = 0;
      for (size_t i = 0; i < in.size(); i += 2) p += elems(g, in[i], batch);
      return 12.0 * p;
    }
  }
  return 0;
}

// Each operand read once and each result written once: what a fused kernel moves at best.
double PlanOp::bytes(int64_t batch, const Graph& g) const {
  double e = 0;
  for (int t : in) e += elems(g, t, batch);
  for (int t : out) e += elems(g, t, batch);
  if (kind == PlanOpKind::dense_bwd) e += elems(g, in[0], batch);  // dz written back over dy
  if (kind == PlanOpKind::optimizer_step) e *= 2.0;                 // params and state written back
  return 4.0 * e;
}

double Plan::total_flops() const {
  double f = 0;
  for (const auto& op : ops) f += op.flops(batch, graph);
  return f;
}

double Plan::total_bytes() const {
  double b = 0;
  for (const auto& op : ops) b += op.bytes(batch, graph);
  return b;
}

namespace {

std::string operand_list(const Graph& g, const std::vector<int>& ts) {
  std::string s;
  for (int t : ts) {
    if (t < 0) continue;
    if (!s.empty()) s += ", ";
    s += g.tensors[t].name;
  }
  return s;
}

std::string human_bytes(double b) {
  char buf[32];
  if (b >= 1 << 20) std::snprintf(buf, sizeof buf, "%.2f MiB", b / (1 << 20));
  else if (b >= 1 << 10) std::snprintf(buf, sizeof buf, "%.1f KiB", b / (1 << 10));
  else std::snprintf(buf, sizeof buf, "%.0f B", b);
  return buf;
}

}  // namespace

std::string plan_report(const Plan& p) {
  std::ostringstream os;
  char line[512];
  os << "plan: " << graph_mode_name(p.mode) << ", batch " << p.batch << ", " << p.ops.size() << " fused ops from "
     << p.graph.nodes.size() << " IR nodes\n\n";
  std::snprintf(line, sizeof line, "  %-3s %-15s %-11s %6s %12s %12s  %s\n", "#", "op", "act/loss", "layer", "MFLOP",
                "bytes", "operands (in → out)");
  os << line;
  for (size_t i = 0; i < p.ops.size(); ++i) {
    const PlanOp& op = p.ops[i];
    std::string attr = op.kind == PlanOpKind::loss_fwd || op.kind == PlanOpKind::loss_fwd_bwd
                           ? std::string(loss_name(op.loss)) + (op.from_logits ? "+logits" : "")
                           : op.kind == PlanOpKind::optimizer_step ? "" : act_name(op.act);
    std::snprintf(line, sizeof line, "  %-3zu %-15s %-11s %6s %12.2f %12s  %s → %s\n", i, plan_op_kind_name(op.kind),
                  attr.c_str(), op.layer >= 0 ? std::to_string(op.layer).c_str() : "-", op.flops(p.batch, p.graph) / 1e6,
                  human_bytes(op.bytes(p.batch, p.graph)).c_str(), operand_list(p.graph, op.in).c_str(),
                  operand_list(p.graph, op.out).c_str());
    os << line;
  }
  os << "\n  total: " << p.total_flops() / 1e6 << " MFLOP, " << human_bytes(p.total_bytes()) << " moved per step ("
     << p.total_flops() / double(p.batch) / 1e6 << " MFLOP/sample)\n";
  std::snprintf(line, sizeof line, "  arena: %s for %zu buffers; naive sum %s; ratio %.3f\n", human_bytes(double(p.arena_bytes)).c_str(),
                p.buffers.size(), human_bytes(double(p.naive_bytes)).c_str(),
                p.naive_bytes ? double(p.arena_bytes) / double(p.naive_bytes) : 0.0);
  os << line;
  int64_t params = 0;
  for (const auto& prm : p.graph.params) params += prm.rows * prm.cols;
  os << "  parameters: " << params << " (" << human_bytes(4.0 * double(params)) << " fp32, in the parameter store)\n";
  return os.str();
}

nlohmann::json plan_json(const Plan& p) {
  nlohmann::json ops = nlohmann::json::array();
  for (const auto& op : p.ops) {
    nlohmann::json in = nlohmann::json::array(), out = nlohmann::json::array();
    for (int t : op.in) if (t >= 0) in.push_back(p.graph.tensors[t].name);
    for (int t : op.out) if (t >= 0) out.push_back(p.graph.tensors[t].name);
    ops.push_back({{"op", plan_op_kind_name(op.kind)}, {"rule", op.rule}, {"act", act_name(op.act)},
                   {"loss", loss_name(op.loss)}, {"from_logits", op.from_logits}, {"layer", op.layer},
                   {"flops", op.flops(p.batch, p.graph)}, {"bytes", op.bytes(p.batch, p.graph)},
                   {"inputs", in}, {"outputs", out}, {"fused_ir_nodes", op.fused_nodes.size()}});
  }
  nlohmann::json bufs = nlohmann::json::array();
  for (const auto& b : p.buffers)
    bufs.push_back({{"tensor", p.graph.tensors[b.tensor].name}, {"offset", b.offset}, {"bytes", b.bytes},
                    {"first_op", b.first_op}, {"last_op", b.last_op == INT32_MAX ? -1 : b.last_op}});
  int64_t params = 0;
  for (const auto& prm : p.graph.params) params += prm.rows * prm.cols;
  return {{"mode", graph_mode_name(p.mode)}, {"batch", p.batch}, {"ir_nodes", p.graph.nodes.size()},
          {"ops", ops}, {"buffers", bufs}, {"arena_bytes", p.arena_bytes}, {"naive_bytes", p.naive_bytes},
          {"arena_ratio", p.naive_bytes ? double(p.arena_bytes) / double(p.naive_bytes) : 0.0},
          {"flops_per_step", p.total_flops()}, {"bytes_per_step", p.total_bytes()}, {"parameters", params}};
}

}  // namespace ae
