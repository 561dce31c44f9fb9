// The memory planner, in the manner of ggml-alloc: walk the ops in order, give each output an
// arena block when it is first written, return a block to the free list after its last reader,
// never free graph outputs, and reserve everything for the worst-case batch. Params, their
// gradients and optimizer state live in the persistent parameter store, not in the arena.
#include <algorithm>
#include <climits>
#include <map>

#include <nlohmann/json.hpp>

#include "graph/plan.h"
#include "kernels/common/error.h"

namespace ae {

namespace {

int64_t align_up(int64_t v) { return (v + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN; }

bool in_arena(const Tensor& t) {
  return t.role != TensorRole::param && t.role != TensorRole::param_grad && t.role != TensorRole::param_copy &&
         t.role != TensorRole::loss_scale;
}

// First-fit-by-size free list over [0, end); `end` grows when nothing fits.
class FreeList {
 public:
  int64_t allocate(int64_t bytes) {
    auto best = m_free.end();
    for (auto it = m_free.begin(); it != m_free.end(); ++it)
      if (it->second >= bytes && (best == m_free.end() || it->second < best->second)) best = it;
    if (best != m_free.end()) {
      int64_t off = best->first, size = best->second;
      m_free.erase(best);
      if (size > bytes) m_free[off + bytes] = size - bytes;
      return off;
    }
    // Grow: extend a free block touching the end if there is one.
    if (!m_free.empty()) {
      auto last = std::prev(m_free.end());
      if (last->first + last->second == m_end) {
        int64_t off = last->first;
        m_free.erase(last);
        m_end = off + bytes;
        return off;
      }
    }
    int64_t off = m_end;
    m_end += bytes;
    return off;
  }
  void release(int64_t off, int64_t bytes) {
    auto it = m_free.emplace(off, bytes).first;
    auto next = std::next(it);
    if (next != m_free.end() && off + bytes == next->first) {  // merge with the following block
      it->second += next->second;
      m_free.erase(next);
    }
    if (it != m_free.begin()) {  // merge with the preceding block
      auto prev = std::prev(it);
      if (prev->first + prev->second == it->first) {
        prev->second += it->second;
        m_free.erase(it);
      }
    }
  }
  int64_t end() const { return m_end; }

 private:
  std::map<int64_t, int64_t> m_free;  // offset → size
  int64_t m_end = 0;
};

}  // namespace

// A parameter gradient written by several ops (a weight used twice) must be overwritten by the
// first of them and accumulated by every later one, in op order.
void check_gradient_order(const Plan& p) {
  std::vector<int> writes(p.graph.params.size(), 0);
  for (const PlanOp& op : p.ops) {
    if (op.kind == PlanOpKind::optimizer_step) continue;
    const bool can_accumulate = op.kind == PlanOpKind::dense_bwd || op.kind == PlanOpKind::conv_bwd || op.kind == PlanOpKind::matmul ||
                                op.kind == PlanOpKind::binary || op.kind == PlanOpKind::reduce ||
                                op.kind == PlanOpKind::broadcast || op.kind == PlanOpKind::contractive_grad_w;
    for (size_t i = 0; i < op.out.size(); ++i) {
      const int t = op.out[i];
      const bool acc = op.accumulates(i);
      AE_CHECK(!acc || can_accumulate, "planner: op ", plan_op_kind_name(op.kind),
               " must add into a parameter gradient but its kernels only overwrite");
      if (t < 0 || p.graph.tensors[size_t(t)].role != TensorRole::param_grad) continue;
      int& w = writes[size_t(p.graph.tensors[size_t(t)].param)];
      AE_CHECK(acc == (w > 0), "planner: op ", plan_op_kind_name(op.kind), " writes ", p.graph.tensors[size_t(t)].name,
               (acc ? " accumulating as its first writer" : " over an earlier writer's gradient"));
      ++w;
    }
  }
}

void plan_memory(Plan& plan) {
  const Graph& g = plan.graph;
  int n_ops = int(plan.ops.size());
  std::map<int, BufferPlan> bufs;  // tensor → plan, ordered by id
  auto touch = [&](int t, int op, bool write) {
    if (t < 0 || !in_arena(g.tensors[t])) return;
    auto [it, fresh] = bufs.try_emplace(t);
    BufferPlan& b = it->second;
    if (fresh) {
      b.tensor = t;
      b.bytes = align_up(g.tensors[size_t(t)].bytes(plan.batch));
      b.first_op = (write || g.tensors[t].role == TensorRole::input) ? op : -1;
      b.last_op = op;
    }
    if (g.tensors[t].role == TensorRole::input) b.first_op = -1;
    b.last_op = std::max(b.last_op, op);
  };
  for (int i = 0; i < n_ops; ++i) {
    for (int t : plan.ops[i].in) touch(t, i, false);
    for (int t : plan.ops[i].out) touch(t, i, true);
  }
  for (int t : g.inputs) touch(t, -1, false);
  for (auto& [t, b] : bufs) {
    TensorRole r = g.tensors[t].role;
    if (r == TensorRole::output || r == TensorRole::scalar || r == TensorRole::input ||
        std::find(g.outputs.begin(), g.outputs.end(), t) != g.outputs.end())
      b.last_op = INT_MAX;  // graph inputs and outputs are never freed
  }

  FreeList fl;
  plan.naive_bytes = 0;
  auto alloc = [&](BufferPlan& b) { b.offset = fl.allocate(b.bytes); };
  for (auto& [t, b] : bufs) {
    plan.naive_bytes += b.bytes;
    if (b.first_op == -1) alloc(b);
  }
  for (int i = 0; i < n_ops; ++i) {
    // Outputs get their blocks before this op's dead inputs are released: a kernel never
    // writes over an operand it is still reading.
    const PlanOp& op = plan.ops[i];
    int handed_over = -1;
    if (op.inplace.first >= 0) {
      int t = op.out[size_t(op.inplace.first)], s = op.in[size_t(op.inplace.second)];
      if (t >= 0 && s >= 0 && bufs.count(t) && bufs.count(s) && bufs[s].last_op == i && bufs[s].bytes == bufs[t].bytes &&
          bufs[t].first_op == i) {
        bufs[t].offset = bufs[s].offset;
        bufs[t].alias_of = s;
        handed_over = s;
      }
    }
    for (int t : op.out)
      if (t >= 0 && bufs.count(t) && bufs[t].first_op == i && bufs[t].alias_of < 0) alloc(bufs[t]);
    std::vector<int> dead;
    for (auto& [t, b] : bufs)
      if (b.last_op == i && t != handed_over) dead.push_back(t);
    for (int t : dead) fl.release(bufs[t].offset, bufs[t].bytes);
  }
  plan.arena_bytes = align_up(fl.end());
  plan.buffers.clear();
  plan.tensor_offset.assign(g.tensors.size(), -1);
  for (auto& [t, b] : bufs) {
    AE_CHECK(b.offset >= 0, "planner: tensor ", g.tensors[t].name, " was never given a block");
    plan.tensor_offset[t] = b.offset;
    plan.buffers.push_back(b);
  }
}

Plan make_plan(const Spec& spec, GraphMode mode, Loss loss, int64_t batch, bool fuse, Precision precision) {
  BuildOptions bo;
  bo.mode = mode;
  bo.loss = loss;
  return make_plan(build_graph(spec, bo), mode, batch, fuse, precision);
}

Plan make_plan(Graph graph, GraphMode mode, int64_t batch, bool fuse, Precision precision) {
  if (batch < 1) AE_FAIL("--batch must be ≥ 1, got ", batch);
  // Every byte count below must fit comfortably in int64: refuse batches whose widest tensor
  // would exceed 2^50 bytes (a petabyte) instead of overflowing.
  for (const Tensor& t : graph.tensors) {
    int64_t bytes = 0;
    if (__builtin_mul_overflow(t.batched ? batch : 1, t.features(), &bytes) ||
        __builtin_mul_overflow(bytes, dtype_bytes(t.dtype), &bytes) || bytes > (int64_t(1) << 50))
      AE_FAIL("--batch ", batch, " is too large: tensor ", t.name, " (", t.features(), " wide) would not fit in memory");
  }
  Plan p;
  p.graph = std::move(graph);
  p.mode = mode;
  p.batch = batch;
  p.ops = lower(p.graph, fuse);
  if (precision.compute != DType::f32) apply_precision(p, precision.compute);
  p.tf32 = precision.tf32;
  check_gradient_order(p);
  plan_memory(p);
  return p;
}

}  // namespace ae
