// Plan figures (FLOPs, bytes) and the `ae plan` report.
#include "graph/plan.h"

#include <algorithm>
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
    case PlanOpKind::optimizer_step: return "optimizer_step";
    case PlanOpKind::matmul: return "matmul";
    case PlanOpKind::activation: return "activation";
    case PlanOpKind::activation_grad: return "activation_grad";
    case PlanOpKind::activation_grad2: return "activation_grad2";
    case PlanOpKind::unary: return "unary";
    case PlanOpKind::binary: return "binary";
    case PlanOpKind::reduce: return "reduce";
    case PlanOpKind::broadcast: return "broadcast";
    case PlanOpKind::fill: return "fill";
    case PlanOpKind::copy: return "copy";
    case PlanOpKind::noise: return "noise";
    case PlanOpKind::sparsity: return "sparsity";
    case PlanOpKind::sparsity_grad: return "sparsity_grad";
    case PlanOpKind::contractive: return "contractive";
    case PlanOpKind::contractive_grad: return "contractive_grad";
    case PlanOpKind::contractive_grad_w: return "contractive_grad_w";
    case PlanOpKind::reparam: return "reparam";
    case PlanOpKind::reparam_grad: return "reparam_grad";
    case PlanOpKind::prior: return "prior";
    case PlanOpKind::cast: return "cast";
    case PlanOpKind::unscale_grads: return "unscale_grads";
    case PlanOpKind::update_scale: return "update_scale";
    case PlanOpKind::conv_fwd: return "conv_fwd";
    case PlanOpKind::conv_bwd: return "conv_bwd";
    case PlanOpKind::pool: return "pool";
    case PlanOpKind::pool_grad: return "pool_grad";
  }
  return "?";
}

namespace {
double elems(const Graph& g, int t, int64_t batch) { return t < 0 ? 0.0 : double(g.tensors[size_t(t)].elements(batch)); }
double tensor_bytes(const Graph& g, int t, int64_t batch) { return t < 0 ? 0.0 : double(g.tensors[size_t(t)].bytes(batch)); }
}  // namespace

ConvGeometry conv_geometry(const PlanOp& op, int64_t batch) {
  ConvGeometry c = op.attr.conv;
  c.batch = batch;
  return c;
}

double conv_macs(const ConvGeometry& g) {
  // Each (sample, output channel, output position) of the ordinary convolution sums in_c·k_h·k_w
  // products; a transposed one is the ordinary convolution from its output back to its input.
  const double taps = double(g.k_h) * double(g.k_w) * double(g.in_c) * double(g.out_c);
  return double(g.batch) * taps * double(g.transposed ? g.in_h * g.in_w : g.out_h() * g.out_w());
}

PoolGeometry pool_geometry(const PlanOp& op, int64_t batch) {
  PoolGeometry p = op.attr.pool;
  p.batch = batch;
  return p;
}

UpsampleGeometry upsample_geometry(const PlanOp& op, int64_t batch) {
  UpsampleGeometry u = op.attr.upsample;
  u.batch = batch;
  return u;
}

double PlanOp::flops(int64_t batch, const Graph& g) const {
  double m_ = double(batch), mn = m_ * double(n);
  // a fused penalty's sums or its gradient (the contractive's a′·a″·n and the add: about 8 per element)
  const double penalty = attr.sparsity.kind != SparsityKind::none ? 2.0 * mn : z_penalty ? 8.0 * mn : 0.0;
  switch (kind) {
    case PlanOpKind::dense_fwd: return 2.0 * mn * double(k) + 2.0 * mn + penalty;
    case PlanOpKind::dense_bwd: return 2.0 * mn * double(k) * (out[2] >= 0 ? 2.0 : 1.0) + 2.0 * mn + penalty;
    case PlanOpKind::loss_fwd: return 4.0 * mn;
    case PlanOpKind::loss_fwd_bwd: return 6.0 * mn;
    case PlanOpKind::optimizer_step: {
      double p = 0;
      for (size_t i = 0; i < in.size(); i += 2) p += elems(g, in[i], batch);
      return 12.0 * p;
    }
    case PlanOpKind::matmul:
      return 2.0 * double(plan_dim(m, batch)) * double(plan_dim(n, batch)) * double(plan_dim(k, batch));
    case PlanOpKind::reduce: return elems(g, in[0], batch);
    case PlanOpKind::activation:
    case PlanOpKind::activation_grad:
    case PlanOpKind::activation_grad2:
    case PlanOpKind::unary:
    case PlanOpKind::binary:
    case PlanOpKind::broadcast: return elems(g, out[0], batch);
    case PlanOpKind::noise: return 0;  // integer Philox rounds, not floating-point work
    case PlanOpKind::prior: return 0;  // likewise (the gaussian's log and cos are per element, not counted)
    case PlanOpKind::sparsity: return 2.0 * elems(g, in[0], batch);
    case PlanOpKind::sparsity_grad: return 3.0 * elems(g, out[0], batch);
    case PlanOpKind::contractive: return 4.0 * elems(g, in[0], batch) + 2.0 * elems(g, in[1], batch);  // a′², ‖W_j‖²
    case PlanOpKind::contractive_grad: return 8.0 * elems(g, out[0], batch);  // a′, a″ and the product
    case PlanOpKind::contractive_grad_w: return 2.0 * elems(g, out[0], batch);
    case PlanOpKind::reparam: return 6.0 * elems(g, out[0], batch);       // σ, z, and KL's 4 per unit (ε: Philox, integer)
    case PlanOpKind::reparam_grad: return 8.0 * elems(g, in[0], batch);   // σ, e^ℓ and both gradients per unit
    case PlanOpKind::fill:
    case PlanOpKind::copy:
    case PlanOpKind::cast: return 0;
    case PlanOpKind::unscale_grads: {  // a multiply and a finiteness test per element
      double p = 0;
      for (int t : in) p += elems(g, t, batch);
      return 2.0 * p;
    }
    case PlanOpKind::update_scale: return 0;
    case PlanOpKind::conv_fwd: return 2.0 * conv_macs(conv_geometry(*this, batch)) + 2.0 * elems(g, out[0], batch);
    case PlanOpKind::conv_bwd: {
      const double passes = (out[0] >= 0 ? 1.0 : 0.0) + (out[2] >= 0 ? 1.0 : 0.0);
      return 2.0 * conv_macs(conv_geometry(*this, batch)) * passes + 2.0 * elems(g, in[0], batch);
    }
    case PlanOpKind::pool: {  // a compare or an add per window element; upsampling only copies
      const double window = attr.pool_kind == PoolKind::upsample ? 0.0 : double(attr.pool.k_h * attr.pool.k_w);
      return window * elems(g, out[0], batch);
    }
    case PlanOpKind::pool_grad: return elems(g, in[0], batch);
  }
  return 0;
}

// Each operand read once and each result written once: what a fused kernel moves at best.
double PlanOp::bytes(int64_t batch, const Graph& g) const {
  double b = 0;
  for (size_t i = 0; i < in.size(); ++i)  // a tensor given twice (a fused penalty's h = y) is read once
    if (std::find(in.begin(), in.begin() + long(i), in[i]) == in.begin() + long(i)) b += tensor_bytes(g, in[i], batch);
  for (int t : out) b += tensor_bytes(g, t, batch);
  // dz written back over dy (conv_bwd applies act′ as its GEMMs load dy: nothing is written back)
  if (kind == PlanOpKind::dense_bwd) b += tensor_bytes(g, in[0], batch);
  if (kind == PlanOpKind::optimizer_step || kind == PlanOpKind::unscale_grads) b *= 2.0;  // written back in place
  return b;
}

OpGeometry op_geometry(const PlanOp& op, const Graph& g, int64_t batch) {
  OpGeometry o;
  o.alpha = op.attr.scale;
  auto view = [&](int t) {
    const Tensor& x = g.tensors[size_t(t)];
    o.m = x.rows(batch);
    o.n = x.cols();
  };
  // An image [B, C, H, W] against a per-channel [C]: the [B·C, H·W] view, G = C.
  auto channel_view = [&](int image, int channels) {
    o.group = g.tensors[size_t(channels)].features();
    o.n = g.tensors[size_t(image)].features() / std::max<int64_t>(o.group, 1);
    o.m = g.tensors[size_t(image)].elements(batch) / std::max<int64_t>(o.n, 1);
    return o;
  };
  switch (op.kind) {
    case PlanOpKind::matmul:
      o.m = plan_dim(op.m, batch), o.n = plan_dim(op.n, batch), o.k = plan_dim(op.k, batch);
      return o;
    case PlanOpKind::binary:
      if (op.attr.bcast == Broadcast::channel) return channel_view(op.in[0], op.in[1]);
      view(op.in[0]);
      o.group = g.tensors[size_t(op.in[0])].rows_per_sample();
      return o;
    case PlanOpKind::sparsity:
    case PlanOpKind::sparsity_grad:
      view(op.kind == PlanOpKind::sparsity ? op.in[0] : op.in[1]);  // h [B, N]
      return o;
    case PlanOpKind::reparam:
    case PlanOpKind::reparam_grad:
      view(op.kind == PlanOpKind::reparam ? op.out[0] : op.in[0]);  // z [B, N]; h is [B, 2N]
      return o;
    case PlanOpKind::contractive:
    case PlanOpKind::contractive_grad:
    case PlanOpKind::contractive_grad_w: {  // m = the batch, n = the code's units, k = the inputs
      const int w = op.kind == PlanOpKind::contractive ? op.in[1] : op.kind == PlanOpKind::contractive_grad_w ? op.in[1] : -1;
      const int z = op.kind == PlanOpKind::contractive ? op.in[0] : op.kind == PlanOpKind::contractive_grad ? op.in[1] : -1;
      o.m = batch;
      o.n = z >= 0 ? g.tensors[size_t(z)].cols() : g.tensors[size_t(w)].rows(batch);
      o.k = w >= 0 ? g.tensors[size_t(w)].cols() : 0;
      return o;
    }
    case PlanOpKind::reduce:
    case PlanOpKind::broadcast: {
      const int big = op.kind == PlanOpKind::reduce ? op.in[0] : op.out[0];  // the [B·G, n] side
      const int small = op.kind == PlanOpKind::reduce ? op.out[0] : op.in[0];
      ReduceAxis axis = op.kind == PlanOpKind::reduce ? op.attr.axis : adjoint_axis(op.attr.bcast);
      if (axis == ReduceAxis::channels) {
        channel_view(big, small);
      } else {
        view(big);
        o.group = g.tensors[size_t(big)].rows_per_sample();
      }
      int64_t count = axis == ReduceAxis::rows ? o.m : axis == ReduceAxis::cols ? o.n : axis == ReduceAxis::all ? o.m * o.n
                    : axis == ReduceAxis::groups ? o.group
                    : axis == ReduceAxis::channels ? o.m / std::max<int64_t>(o.group, 1) * o.n
                    : o.m / std::max<int64_t>(o.group, 1);
      if (op.attr.mean) o.alpha /= double(std::max<int64_t>(count, 1));
      return o;
    }
    default:  // elementwise kinds; the conv and pool kinds take their geometry from attr (conv_geometry)
      if (!op.out.empty() && op.out[0] >= 0) o.m = g.tensors[size_t(op.out[0])].elements(batch);
      return o;
  }
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
    // Under mixed precision a tensor's dtype is part of what the op reads or writes.
    if (g.tensors[t].dtype != DType::f32 && g.tensors[t].name.rfind(dtype_name(g.tensors[t].dtype), 0) != 0)
      s += std::string(":") + dtype_name(g.tensors[t].dtype);
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

// The act/loss column of `ae plan`: what parameterises the op.
static std::string plan_op_attr_text(const PlanOp& op) {
  std::string t;
  char num[32];
  auto scaled = [&](const char* what) {
    std::snprintf(num, sizeof num, "%g", op.attr.scale);
    return op.attr.scale == 1.0 ? std::string(what) : std::string(what) + "×" + num;
  };
  switch (op.kind) {
    case PlanOpKind::loss_fwd:
    case PlanOpKind::loss_fwd_bwd:
      t = std::string(loss_name(op.attr.loss)) + (op.from_logits ? "+logits" : "") +
          (op.attr.reduction == LossReduction::sum ? " sum/row" : "");
      break;
    case PlanOpKind::optimizer_step: break;
    case PlanOpKind::matmul: t = std::string(op.trans_a ? "T" : "N") + (op.trans_b ? "T" : "N"); break;
    case PlanOpKind::unary: t = scaled(unary_op_name(op.attr.unary)); break;
    case PlanOpKind::binary: t = std::string(binary_op_name(op.attr.binary)) + "/" + broadcast_name(op.attr.bcast); break;
    case PlanOpKind::reduce: t = scaled(op.attr.mean ? "mean" : "sum") + "/" + reduce_axis_name(op.attr.axis); break;
    case PlanOpKind::broadcast: t = scaled(op.attr.mean ? "mean" : "bcast") + "/" + broadcast_name(op.attr.bcast); break;
    case PlanOpKind::fill:
      std::snprintf(num, sizeof num, "%g", op.attr.scale);
      t = num;
      if (op.attr.ramp > 0) t += " ramped over " + std::to_string(op.attr.ramp) + " steps";
      break;
    case PlanOpKind::reparam: t = !op.attr.vae.sample ? "z=mu" : op.attr.vae.sampled_kl ? "z~q, log q/p" : "z~q, KL"; break;
    case PlanOpKind::reparam_grad: t = "dmu, dlogvar"; break;
    case PlanOpKind::copy: t = "copy"; break;
    case PlanOpKind::cast: t = op.rule.substr(op.rule.find(' ') + 1); break;  // "f32→bf16"
    case PlanOpKind::unscale_grads: t = "1/scale, inf check"; break;
    case PlanOpKind::update_scale: t = "x2 / x0.5"; break;
    case PlanOpKind::noise: t = noise_kind_name(op.attr.noise.kind); break;
    case PlanOpKind::pool:
    case PlanOpKind::pool_grad:
      if (op.attr.pool_kind == PoolKind::upsample) std::snprintf(num, sizeof num, "upsample x%lld", (long long)op.attr.upsample.f_h);
      else std::snprintf(num, sizeof num, "%s k%lld s%lld", pool_kind_name(op.attr.pool_kind), (long long)op.attr.pool.k_h, (long long)op.attr.pool.stride_h);
      t = num;
      break;
    case PlanOpKind::prior: t = op.attr.prior == PriorKind::uniform ? "uniform(-1,1)" : "gaussian(0,1)"; break;
    case PlanOpKind::sparsity:
    case PlanOpKind::sparsity_grad: t = sparsity_kind_name(op.attr.sparsity.kind); break;
    case PlanOpKind::contractive_grad_w: t = "2*s_j*W_j"; break;
    default:
      t = act_name(op.attr.act);
      if (op.attr.noise.kind != NoiseKind::none) t += std::string("+") + noise_kind_name(op.attr.noise.kind);  // x̃ regenerated
      if (op.attr.sparsity.kind != SparsityKind::none) t += std::string("+") + sparsity_kind_name(op.attr.sparsity.kind);
      if (op.z_penalty) t += "+contractive";
      break;
  }
  // "+=": the op adds into the parameter gradients it writes; a dense_bwd whose dW and db differ
  // names the one that accumulates.
  if ((op.kind == PlanOpKind::dense_bwd || op.kind == PlanOpKind::conv_bwd) && op.accumulates(0) != op.accumulates(1))
    return t + (op.accumulates(0) ? " dW+=" : " db+=");
  return op.attr.accumulate ? t + " +=" : t;
}

std::string plan_report(const Plan& p) {
  std::ostringstream os;
  char line[512];
  os << "plan: " << graph_mode_name(p.mode) << ", batch " << p.batch << ", " << p.ops.size() << " fused ops from "
     << p.graph.nodes.size() << " IR nodes";
  if (p.precision != DType::f32)
    os << ", precision " << precision_name(p.precision) << " (GEMMs accumulate in fp32; parameters, their gradients, optimizer "
       << "state and losses stay fp32" << (p.loss_scale >= 0 ? "; dynamic loss scaling" : "") << ")";
  if (p.tf32) os << ", precision tf32 (fp32 tensors; GEMM operands rounded to tf32 on the tensor cores, fp32 accumulation)";
  os << "\n\n";
  std::snprintf(line, sizeof line, "  %-3s %-18s %-30s %6s %12s %12s  %s\n", "#", "op", "act/loss", "layer", "MFLOP",
                "bytes", "operands (in → out)");
  os << line;
  for (size_t i = 0; i < p.ops.size(); ++i) {
    const PlanOp& op = p.ops[i];
    std::string attr = plan_op_attr_text(op);
    std::snprintf(line, sizeof line, "  %-3zu %-18s %-30s %6s %12.2f %12s  %s → %s\n", i, plan_op_kind_name(op.kind),
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
  double param_bytes = 0;
  for (const auto& prm : p.graph.params) {
    params += p.graph.tensors[size_t(prm.tensor)].elements(1);
    param_bytes += double(p.graph.tensors[size_t(prm.tensor)].bytes(1));
  }
  os << "  parameters: " << params << " (" << human_bytes(param_bytes) << ", in the parameter store)\n";
  for (size_t t = 0; t < p.graph.terms.size(); ++t) {  // each penalty's share: its nodes and their gradients
    double flops = 0;
    int count = 0;
    std::string fused;  // the ops of other work that took some of the penalty's nodes
    for (const PlanOp& op : p.ops) {
      int ours = 0;
      for (int n : op.fused_nodes) ours += p.graph.nodes[size_t(n)].term == int(t);
      if (ours == 0) continue;
      if (ours < int(op.fused_nodes.size())) {
        fused += (fused.empty() ? "" : ", ") + std::string(plan_op_kind_name(op.kind)) + " of layer " + std::to_string(op.layer);
        continue;
      }
      flops += op.flops(p.batch, p.graph);
      ++count;
    }
    if (count == 0 && fused.empty()) continue;
    char buf[256];
    std::snprintf(buf, sizeof buf, "  %s penalty: %d op(s) of its own, %.4g MFLOP per sample at batch %lld (forward and gradient; %.1f%% of the step)",
                  p.graph.terms[t].name.c_str(), count, flops / double(p.batch) / 1e6, (long long)p.batch,
                  p.total_flops() > 0 ? 100.0 * flops / p.total_flops() : 0.0);
    os << buf << (fused.empty() ? "" : "; the rest fused into " + fused) << "\n";
  }
  for (const PlanOp& op : p.ops)  // a corruption fused into the first layer: say what it saves
    if (op.kind == PlanOpKind::dense_fwd && op.attr.noise.kind != NoiseKind::none)
      os << "  input corruption (" << noise_kind_name(op.attr.noise.kind) << "): regenerated from Philox as layer " << op.layer
         << "'s GEMMs load x (forward and dW); no corrupted-input buffer, " << human_bytes(double(p.graph.tensors[size_t(op.in[0])].bytes(p.batch)))
         << " of arena saved\n";
  return os.str();
}

nlohmann::json plan_json(const Plan& p) {
  nlohmann::json ops = nlohmann::json::array();
  for (const auto& op : p.ops) {
    nlohmann::json in = nlohmann::json::array(), out = nlohmann::json::array();
    for (int t : op.in) if (t >= 0) in.push_back(p.graph.tensors[t].name);
    for (int t : op.out) if (t >= 0) out.push_back(p.graph.tensors[t].name);
    ops.push_back({{"op", plan_op_kind_name(op.kind)}, {"rule", op.rule}, {"attr", plan_op_attr_text(op)}, {"act", act_name(op.attr.act)},
                   {"loss", loss_name(op.attr.loss)}, {"from_logits", op.from_logits}, {"layer", op.layer}, {"noise", noise_kind_name(op.attr.noise.kind)},
                   {"sparsity", sparsity_kind_name(op.attr.sparsity.kind)},
                   {"flops", op.flops(p.batch, p.graph)}, {"bytes", op.bytes(p.batch, p.graph)},
                   {"inputs", in}, {"outputs", out}, {"fused_ir_nodes", op.fused_nodes.size()}});
  }
  nlohmann::json bufs = nlohmann::json::array();
  for (const auto& b : p.buffers)
    bufs.push_back({{"tensor", p.graph.tensors[b.tensor].name}, {"dtype", dtype_name(p.graph.tensors[b.tensor].dtype)},
                    {"offset", b.offset}, {"bytes", b.bytes},
                    {"first_op", b.first_op}, {"last_op", b.last_op == INT32_MAX ? -1 : b.last_op}});
  int64_t params = 0;
  for (const auto& prm : p.graph.params) params += p.graph.tensors[size_t(prm.tensor)].elements(1);
  return {{"mode", graph_mode_name(p.mode)}, {"batch", p.batch}, {"precision", precision_name(p.precision_setting())}, {"ir_nodes", p.graph.nodes.size()},
          {"ops", ops}, {"buffers", bufs}, {"arena_bytes", p.arena_bytes}, {"naive_bytes", p.naive_bytes},
          {"arena_ratio", p.naive_bytes ? double(p.arena_bytes) / double(p.naive_bytes) : 0.0},
          {"flops_per_step", p.total_flops()}, {"bytes_per_step", p.total_bytes()}, {"parameters", params}};
}

}  // namespace ae
