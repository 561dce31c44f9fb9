// An fp64 interpreter of IR graphs for tests: every node runs on the double instantiation of its
// cpu reference kernel, node by node, with no lowering and no fusion. It is what the fp64
// central-difference checks differentiate (graph/autodiff.cpp's rules against the forward), and
// the truth the Plan of the same graph is compared with on every backend (op table test).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "graph/ir.h"
#include "kernels/common/error.h"
#include "kernels/common/noise.h"
#include "kernels/common/philox.h"
#include "kernels/common/prior.h"
#include "kernels/cpu/activation.h"
#include "kernels/cpu/binary.h"
#include "kernels/cpu/broadcast.h"
#include "kernels/cpu/contractive.h"
#include "kernels/cpu/conv.h"
#include "kernels/cpu/pool.h"
#include "kernels/cpu/loss.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/reduce.h"
#include "kernels/cpu/sparsity.h"
#include "kernels/cpu/unary.h"
#include "kernels/cpu/vae.h"

namespace ae::test {

// Values of every tensor of a graph at one batch size, in double. Parameter gradients of one
// parameter share one buffer (the first writer's), as in the ParamStore.
struct IrValues {
  const Graph* g = nullptr;
  int64_t batch = 0;
  std::vector<std::vector<double>> v;  // by tensor id (param_grad tensors: see slot())
  // The (seed, step) of noise nodes' draws: what an Executor run with step 1 and seed 0 uses.
  uint64_t seed = 0, step = 1;
  uint64_t row_offset = 0;  // a VAE's ε: the data rows before this batch (Executor::set_row_offset)

  IrValues(const Graph& graph, int64_t b) : g(&graph), batch(b), v(graph.tensors.size()) {
    for (size_t t = 0; t < graph.tensors.size(); ++t) v[t].assign(size_t(graph.tensors[t].elements(b)), 0.0);
  }
  int slot(int t) const {
    const Tensor& x = g->tensors[size_t(t)];
    if (x.role == TensorRole::param_grad && g->params[size_t(x.param)].grad >= 0) return g->params[size_t(x.param)].grad;
    return t;
  }
  double* operator[](int t) { return t < 0 ? nullptr : v[size_t(slot(t))].data(); }
  // The objective Σ weight·term, each weight at this step (a warmed-up term's ramps).
  double objective() {
    double s = 0;
    for (const Term& t : g->terms) s += t.weight_at(int64_t(step)) * (*this)[t.tensor][0];
    return s;
  }
};

// Runs nodes [0, end) of g (end < 0: all; optimizer updates do nothing). hold_stopped leaves the
// outputs of stop_gradient nodes as they are: a central difference then sees the function autodiff
// differentiates, in which those values are constants.
inline void ir_run(IrValues& val, int end = -1, bool hold_stopped = false) {
  const Graph& g = *val.g;
  const int64_t B = val.batch;
  if (end < 0) end = int(g.nodes.size());
  auto T = [&](int t) -> const Tensor& { return g.tensors[size_t(t)]; };
  for (int i = 0; i < end; ++i) {
    const Node& n = g.nodes[size_t(i)];
    const Attrs& a = n.attr;
    auto in = [&](size_t k) { return val[n.in[k]]; };
    double* out = n.out.empty() ? nullptr : val[n.out[0]];
    auto mean_alpha = [&](ReduceAxis axis, int64_t M, int64_t N, int64_t G = 1) {
      int64_t count = axis == ReduceAxis::rows ? M : axis == ReduceAxis::cols ? N : axis == ReduceAxis::all ? M * N
                    : axis == ReduceAxis::groups ? G : axis == ReduceAxis::channels ? M / G * N : M / G;
      return a.mean ? a.scale / double(std::max<int64_t>(1, count)) : a.scale;
    };
    switch (n.type) {
      case OpType::linear: {  // y[R,N] = x[R,K]·Wᵀ, or x·W (R: x's rows, B·G or fixed)
        const int64_t N = T(n.out[0]).cols(), K = T(n.in[0]).cols();
        cpu::matmul<double>(false, !a.trans_w, T(n.in[0]).rows(B), N, K, in(0), in(1), out, false);
        break;
      }
      case OpType::linear_grad_w: {  // in {dy [B,N], x [B,K]}
        const int64_t N = T(n.in[0]).cols(), K = T(n.in[1]).cols(), R = T(n.in[0]).rows(B);
        if (a.trans_w) cpu::matmul<double>(true, false, K, N, R, in(1), in(0), out, a.accumulate);
        else cpu::matmul<double>(true, false, N, K, R, in(0), in(1), out, a.accumulate);
        break;
      }
      case OpType::linear_grad_x: {  // in {dy [B,N], W}, out dx [B,K]
        const int64_t N = T(n.in[0]).cols(), K = T(n.out[0]).cols();
        cpu::matmul<double>(false, a.trans_w, T(n.in[0]).rows(B), K, N, in(0), in(1), out, a.accumulate);
        break;
      }
      case OpType::bias_add:
        if (a.bcast == Broadcast::channel) {  // b [C] per channel of an image: the [B·C, H·W] view
          const int64_t C = T(n.in[1]).features(), HW = T(n.in[0]).features() / C;
          cpu::binary<double>(BinaryOp::add, in(0), in(1), out, B * C, HW, Broadcast::channel, false, C);
        } else {
          cpu::binary<double>(BinaryOp::add, in(0), in(1), out, B, T(n.in[0]).cols(), Broadcast::row, false);
        }
        break;
      case OpType::bias_grad:
        if (a.bcast == Broadcast::channel) {
          const int64_t C = T(n.out[0]).features(), HW = T(n.in[0]).features() / C;
          cpu::reduce_sum<double>(ReduceAxis::channels, 1.0, in(0), out, B * C, HW, a.accumulate, C);
        } else {
          cpu::reduce_sum<double>(ReduceAxis::rows, 1.0, in(0), out, B, T(n.in[0]).cols(), a.accumulate);
        }
        break;
      case OpType::conv2d: {
        ConvGeometry cg = a.conv;
        cg.batch = B;
        cpu::conv2d_forward<double>(cg, in(0), in(1), nullptr, Act::linear, out, nullptr);
        break;
      }
      case OpType::conv2d_grad_x:    // in {dy, W}
      case OpType::conv2d_grad_w: {  // in {dy, x}: a parameter gradient, accumulated after its first writer
        ConvGeometry cg = a.conv;
        cg.batch = B;
        std::vector<double> dz(in(0), in(0) + T(n.in[0]).elements(B));  // the kernel's act′ scratch
        if (n.type == OpType::conv2d_grad_x) {
          cpu::conv2d_backward<double>(cg, in(0), nullptr, nullptr, Act::linear, nullptr, in(1), dz.data(), nullptr, nullptr, out,
                                       false, false);
        } else {
          const double* w = val[g.params[size_t(T(n.out[0]).param)].tensor];
          cpu::conv2d_backward<double>(cg, in(0), nullptr, nullptr, Act::linear, in(1), w, dz.data(), out, nullptr, nullptr,
                                       a.accumulate, false);
        }
        break;
      }
      case OpType::pool:
      case OpType::pool_grad: {
        PoolGeometry pg = a.pool;
        UpsampleGeometry ug = a.upsample;
        pg.batch = ug.batch = B;
        const bool fwd = n.type == OpType::pool;
        switch (a.pool_kind) {
          case PoolKind::max:
            if (fwd) cpu::max_pool2d_forward<double>(pg, in(0), out, nullptr);
            else cpu::max_pool2d_backward<double>(pg, in(0), in(1), out);
            break;
          case PoolKind::avg:
            if (fwd) cpu::avg_pool2d_forward<double>(pg, in(0), out);
            else cpu::avg_pool2d_backward<double>(pg, in(0), out);
            break;
          case PoolKind::upsample:
            if (fwd) cpu::upsample_nearest2d_forward<double>(ug, in(0), out);
            else cpu::upsample_nearest2d_backward<double>(ug, in(0), out);
            break;
        }
        break;
      }
      case OpType::activation: cpu::activation_forward<double>(a.act, in(0), out, T(n.out[0]).elements(B)); break;
      case OpType::activation_grad:
        cpu::activation_backward<double>(a.act, in(0), in(1), in(2), out, T(n.out[0]).elements(B));
        break;
      case OpType::activation_grad2:
        cpu::activation_second_backward<double>(a.act, in(0), in(1), out, T(n.out[0]).elements(B));
        break;
      case OpType::unary: {
        const int64_t count = T(n.out[0]).elements(B);
        std::vector<double> f(size_t(count), 0.0);
        cpu::unary<double>(a.unary, a.scale, in(0), f.data(), count);
        for (int64_t e = 0; e < count; ++e) out[e] = a.accumulate ? out[e] + f[size_t(e)] : f[size_t(e)];
        break;
      }
      case OpType::binary:
        cpu::binary<double>(a.binary, in(0), in(1), out, T(n.in[0]).rows(B), T(n.in[0]).cols(), a.bcast, a.accumulate,
                            T(n.in[0]).rows_per_sample());
        break;
      case OpType::add:
        cpu::binary<double>(BinaryOp::add, in(0), in(1), out, 1, T(n.out[0]).elements(B), Broadcast::none, false);
        break;
      case OpType::reduce: {
        const int64_t M = T(n.in[0]).rows(B), N = T(n.in[0]).cols(), G = T(n.in[0]).rows_per_sample();
        cpu::reduce_sum<double>(a.axis, mean_alpha(a.axis, M, N, G), in(0), out, M, N, a.accumulate, G);
        break;
      }
      case OpType::broadcast: {
        const int64_t M = T(n.out[0]).rows(B), N = T(n.out[0]).cols(), G = T(n.out[0]).rows_per_sample();
        const ReduceAxis axis = adjoint_axis(a.bcast);
        cpu::broadcast<double>(a.bcast, mean_alpha(axis, M, N, G), in(0), out, M, N, a.accumulate, G);
        break;
      }
      case OpType::fill:  // a ramped fill's value is taken in float, as the backends fill a float tensor
        for (int64_t e = 0; e < T(n.out[0]).elements(B); ++e)
          out[e] = a.ramp > 0 ? double(float(ramp_weight(a.scale, int64_t(val.step), a.ramp))) : a.scale;
        break;
      case OpType::noise:  // the float corruption of the float input the backends are given
        for (int64_t e = 0; e < T(n.out[0]).elements(B); ++e)
          out[e] = double(ae::corrupt(a.noise, float(in(0)[e]), val.seed, val.step, uint64_t(e)));
        break;
      case OpType::prior:  // the float draws the backends make, widened
        for (int64_t e = 0; e < T(n.out[0]).elements(B); ++e) out[e] = double(ae::prior_sample(a.prior, val.seed, val.step, uint64_t(e)));
        break;
      case OpType::sparsity:  // in {h}, out {value, colsum}
        cpu::sparsity_forward<double>(a.sparsity, in(0), B, T(n.in[0]).cols(), val[n.out[1]], out);
        break;
      case OpType::sparsity_grad:  // in {dvalue, h, colsum}
        cpu::sparsity_backward<double>(a.sparsity, in(0), in(1), in(2), B, T(n.in[1]).cols(), out, false);
        break;
      case OpType::contractive:  // in {z, W}, out {value, s, norms}
        cpu::contractive_forward<double>(a.act, in(0), in(1), B, T(n.in[0]).cols(), T(n.in[1]).cols(), val[n.out[1]],
                                         val[n.out[2]], out);
        break;
      case OpType::contractive_grad:  // in {dvalue, z, norms}
        cpu::contractive_backward_z<double>(a.act, in(0), in(1), in(2), B, T(n.in[1]).cols(), out, false);
        break;
      case OpType::contractive_grad_w:  // in {dvalue, W, s}: a parameter gradient, accumulated after its first writer
        cpu::contractive_backward_w<double>(in(0), in(1), in(2), B, T(n.in[1]).rows(B), T(n.in[1]).cols(), out, a.accumulate);
        break;
      case OpType::reparam:  // in {h}, out {z, value, kl}
        cpu::reparam_forward<double>(a.vae, val.seed, val.step, val.row_offset, in(0), B, T(n.out[0]).cols(), out,
                                     val[n.out[2]], val[n.out[1]]);
        break;
      case OpType::reparam_grad:  // in {dz, h, dvalue}
        cpu::reparam_backward<double>(a.vae, val.seed, val.step, val.row_offset, in(0), in(1), in(2), B, T(n.in[0]).cols(), out, false);
        break;
      case OpType::stop_gradient:
        if (hold_stopped) break;
        for (int64_t e = 0; e < T(n.out[0]).elements(B); ++e) out[e] = in(0)[e];
        break;
      case OpType::loss:
        out[0] = cpu::loss_forward_backward<double>(a.loss, false, in(0), in(1), B, T(n.in[0]).cols(), nullptr,
                                                    val[n.out[1]], nullptr, Act::linear, a.reduction);
        break;
      case OpType::loss_grad:
        cpu::loss_forward_backward<double>(a.loss, false, in(0), in(1), B, T(n.in[0]).cols(), out, nullptr, nullptr,
                                           Act::linear, a.reduction);
        break;
      case OpType::optimizer_update: break;
    }
  }
}

// Index of the first node autodiff appended (the forward is everything before it).
inline int forward_end(const Graph& g) { return g.backward_begin >= 0 ? g.backward_begin : int(g.nodes.size()); }

// Seeded values for every input and parameter of g: uniform in [lo, hi) (inputs in [0.05, 0.95)
// so a bce target is valid), keyed by tensor id.
inline void ir_fill_leaves(IrValues& val, uint64_t seed) {
  const Graph& g = *val.g;
  for (size_t t = 0; t < g.tensors.size(); ++t) {
    const TensorRole r = g.tensors[t].role;
    if (r != TensorRole::input && r != TensorRole::param) continue;
    const bool input = r == TensorRole::input;
    for (size_t e = 0; e < val.v[t].size(); ++e) {
      double u = philox_uniform(seed, t, PhiloxPurpose::data, e);
      val.v[t][e] = input ? 0.05 + 0.9 * u : -0.8 + 1.6 * u;
    }
  }
}

}  // namespace ae::test
