// Executor: arena ownership, host/device memory of the Plan, input staging and op dispatch.
#include "runtime/executor.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <tuple>
#include <utility>

#include "kernels/common/error.h"
#include "kernels/common/step_scalars.h"
#include "kernels/cpu/cast.h"

namespace ae {

GuardedArena guarded_arena(const Plan& plan, int64_t guard) {
  GuardedArena a;
  a.offset = plan.tensor_offset;
  a.bytes = plan.arena_bytes;
  if (guard <= 0) return a;
  // Shift the k-th distinct planned offset by k guards: two buffers live at once never overlap in
  // the plan, so after the shift the later one starts at least `guard` bytes after the earlier ends.
  std::vector<int64_t> starts;
  for (int64_t off : plan.tensor_offset)
    if (off >= 0) starts.push_back(off);
  std::sort(starts.begin(), starts.end());
  starts.erase(std::unique(starts.begin(), starts.end()), starts.end());
  auto shifted = [&](int64_t off) {
    return off + guard * int64_t(std::lower_bound(starts.begin(), starts.end(), off) - starts.begin());
  };
  for (int64_t& off : a.offset)
    if (off >= 0) off = shifted(off);
  a.bytes = plan.arena_bytes + guard * int64_t(starts.size());
  // Name each tensor's exact bytes; tensors that share space at different times (or in place) are
  // merged into one range, so the checker holds each to the union of their extents.
  std::vector<std::tuple<int64_t, int64_t, std::string>> ranges;
  for (const BufferPlan& b : plan.buffers) {
    const Tensor& t = plan.graph.tensors[size_t(b.tensor)];
    const int64_t lo = a.offset[size_t(b.tensor)], bytes = t.bytes(plan.batch);
    if (bytes > 0) ranges.emplace_back(lo, lo + bytes, t.name);
  }
  std::sort(ranges.begin(), ranges.end());
  for (auto& [lo, hi, name] : ranges) {
    if (!a.names.empty() && lo < std::get<1>(a.names.back())) {
      auto& [mlo, mhi, mname] = a.names.back();
      mhi = std::max(mhi, hi);
      if (mname.size() < 80) mname += " / " + name;
      continue;
    }
    a.names.emplace_back(lo, hi, name);
  }
  for (auto& r : a.names) std::get<2>(r) = "arena tensor '" + std::get<2>(r) + "'";
  return a;
}


Executor::Executor(Plan plan, Backend& backend, ParamStore& params)
    : m_plan(std::move(plan)), m_backend(backend), m_params(params), m_dev(backend.device()) {
  for (const Param& p : m_plan.graph.params) m_groups = std::max(m_groups, p.group + 1);
  AE_CHECK(m_groups <= MAX_PARAM_GROUPS, "plan has ", m_groups, " parameter groups; at most ", MAX_PARAM_GROUPS);
  const auto& terms = m_plan.graph.terms;
  if (terms.size() == 1) {
    int p = m_plan.graph.producer(terms[0].tensor);
    m_sole_loss_term = p >= 0 && m_plan.graph.nodes[size_t(p)].type == OpType::loss;
  }
  AE_CHECK(m_params.count() == m_plan.graph.params.size(), "parameter store has ", m_params.count(),
           " tensors but the plan expects ", m_plan.graph.params.size());
  for (size_t i = 0; i < m_params.count(); ++i) {
    const auto& gp = m_plan.graph.params[i];
    AE_CHECK(gp.name == m_params.info(i).name && m_plan.graph.tensors[size_t(gp.tensor)].dims == m_params.info(i).dims,
             "parameter ", i, " mismatch: plan has ", gp.name, " but the store has ", m_params.info(i).name);
  }
  if (const std::string why = m_backend.precision_support(m_plan.precision_setting()); !why.empty()) AE_FAIL(why);
  for (const Tensor& t : m_plan.graph.tensors) m_uses_copies = m_uses_copies || t.role == TensorRole::param_copy;
  if (m_uses_copies && !m_dev) m_params.ensure_copies(m_plan.precision);
  for (int t : m_plan.graph.inputs) {
    const Tensor& in = m_plan.graph.tensors[size_t(t)];
    m_host_inputs.emplace_back(in.dtype == DType::f32 ? 0 : size_t(in.elements(m_plan.batch)) * sizeof(float));
  }
  if (!m_dev) {
    m_arena = AlignedBlock(size_t(m_plan.arena_bytes));
  } else {
    try {
      const GuardedArena arena = guarded_arena(m_plan, int64_t(m_dev->guard_bytes()));
      m_dev_offset = arena.offset;
      m_dev_arena = static_cast<char*>(m_dev->allocate(size_t(std::max<int64_t>(arena.bytes, 1))));
      for (const auto& [lo, hi, name] : arena.names) m_dev->name_memory(m_dev_arena + lo, size_t(hi - lo), name);
      m_dev_params_bytes = m_params.block_bytes();
      m_dev_params = static_cast<char*>(m_dev->allocate(std::max<size_t>(m_dev_params_bytes, 1)));
      m_dev->name_memory(m_dev_params, m_dev_params_bytes, "parameter store");
      if (m_uses_copies) {
        m_copy_staging = AlignedBlock(std::max<size_t>(m_params.copy_block_bytes(), 1));
        m_dev_copies = static_cast<char*>(m_dev->allocate(std::max<size_t>(m_params.copy_block_bytes(), 1)));
        m_dev->name_memory(m_dev_copies, m_params.copy_block_bytes(),
                           std::string("parameter compute copies (") + dtype_name(m_plan.precision) + ")");
      }
      sync_params_to_device();
      for (int t : m_plan.graph.inputs) {
        size_t bytes = size_t(m_plan.graph.tensors[size_t(t)].bytes(m_plan.batch));
        m_staging.push_back({});  // recorded before allocating, so release() frees what exists
        m_slots.push_back({});
        for (size_t s = 0; s < 2; ++s) {
          m_staging.back()[s] = static_cast<float*>(m_dev->allocate_pinned(bytes));
          m_slots.back()[s] = static_cast<float*>(m_dev->allocate(bytes));
          m_dev->name_memory(m_slots.back()[s], bytes, "input slot " + std::to_string(s) + " of '" +
                                                           m_plan.graph.tensors[size_t(t)].name + "'");
        }
      }
    } catch (...) {
      release();
      throw;
    }
  }
}

Executor::~Executor() { release(); }

void Executor::release() {
  if (!m_dev) return;
  try {
    m_dev->synchronize();
  } catch (...) {
  }
  for (auto& st : m_staging)
    for (float*& p : st)
      if (p) m_dev->deallocate_pinned(std::exchange(p, nullptr));
  for (auto& sl : m_slots)
    for (float*& p : sl)
      if (p) m_dev->deallocate(std::exchange(p, nullptr));
  m_staging.clear();
  m_slots.clear();
  m_cache.reset();
  if (m_dev_arena) m_dev->deallocate(std::exchange(m_dev_arena, nullptr));
  if (m_dev_params) m_dev->deallocate(std::exchange(m_dev_params, nullptr));
  if (m_dev_copies) m_dev->deallocate(std::exchange(m_dev_copies, nullptr));
}

size_t Executor::input_index(int t) const {
  const auto& in = m_plan.graph.inputs;
  for (size_t i = 0; i < in.size(); ++i)
    if (in[i] == t) return i;
  return size_t(-1);
}

float* Executor::data(int t) const {
  if (t < 0) return nullptr;
  const Tensor& ten = m_plan.graph.tensors[t];
  if (ten.role == TensorRole::param_copy) {
    if (m_dev) return reinterpret_cast<float*>(m_dev_copies + m_params.copy_offset(size_t(ten.param)));
    return static_cast<float*>(m_params.copy(size_t(ten.param)));
  }
  if (ten.role == TensorRole::param || ten.role == TensorRole::param_grad || ten.role == TensorRole::loss_scale) {
    float* host = ten.role == TensorRole::param        ? m_params.value(size_t(ten.param))
                  : ten.role == TensorRole::param_grad ? m_params.grad(size_t(ten.param))
                                                       : m_params.amp(m_plan.graph.phase);
    if (!m_dev) return host;
    return reinterpret_cast<float*>(m_dev_params + (reinterpret_cast<char*>(host) - static_cast<char*>(m_params.block())));
  }
  if (m_dev) {
    size_t i = input_index(t);
    if (i != size_t(-1)) return m_slots[i][size_t(m_running >= 0 ? m_running : 0)];
  }
  int64_t off = m_plan.tensor_offset[t];
  AE_CHECK(off >= 0, "tensor ", ten.name, " has no memory in this plan");
  return m_dev ? reinterpret_cast<float*>(m_dev_arena + m_dev_offset[size_t(t)]) : m_arena.as<float>(size_t(off));
}

float* Executor::input(size_t i) const {
  AE_CHECK(i < m_plan.graph.inputs.size(), "plan has ", m_plan.graph.inputs.size(), " inputs, asked for input ", i);
  if (m_host_inputs[i].bytes()) return m_host_inputs[i].as<float>();
  return m_dev ? m_staging[i][size_t(m_fill)] : data(m_plan.graph.inputs[i]);
}

void Executor::submit_input(int64_t rows) {
  AE_CHECK(rows >= 1 && rows <= m_plan.batch, "batch ", rows, " outside the planned 1..", m_plan.batch);
  if (!m_dev) return;  // input() is the arena itself
  AE_CHECK(m_submitted < 0, "an input batch is already waiting for launch()");
  for (size_t i = 0; i < m_plan.graph.inputs.size(); ++i) {
    const Tensor& in = m_plan.graph.tensors[size_t(m_plan.graph.inputs[i])];
    size_t bytes = size_t(in.bytes(rows));
    if (m_host_inputs[i].bytes())  // the caller's fp32 rows, rounded into the staging buffer
      cpu::cast(m_host_inputs[i].as<float>(), DType::f32, m_staging[i][size_t(m_fill)], in.dtype, in.elements(rows));
    m_dev->upload_input(m_fill, m_slots[i][size_t(m_fill)], m_staging[i][size_t(m_fill)], bytes);
  }
  m_submitted = m_fill;
  m_fill ^= 1;
  m_dev->wait_staging(m_fill);  // the buffer input() now returns: its last upload has read it
}

void Executor::launch(int64_t batch, const cpu::OptConfig* opt, int64_t step) {
  begin_context(batch, step);
  m_ctx.opt = opt;
  if (opt) {  // every group at the config's learning rate (already scheduled by the caller)
    m_ctx.group_count = m_groups;
    for (int g = 0; g < m_groups; ++g) m_ctx.lr[size_t(g)] = opt->lr;
  }
  enqueue(batch);
}

void Executor::launch(int64_t batch, const std::vector<cpu::OptConfig>& per_group, int64_t step) {
  AE_CHECK(per_group.size() >= size_t(m_groups), "launch with ", per_group.size(), " optimizers for ", m_groups,
           " parameter groups");
  begin_context(batch, step);
  m_ctx.opt = &per_group[0];
  m_ctx.group_count = m_groups;
  for (int g = 0; g < m_groups; ++g) {
    m_ctx.group_opt[size_t(g)] = &per_group[size_t(g)];
    m_ctx.lr[size_t(g)] = per_group[size_t(g)].lr;
  }
  enqueue(batch);
}

void Executor::begin_context(int64_t batch, int64_t step) {
  AE_CHECK(m_running < 0, "launch() while the previous launch was not finished");
  m_ctx = OpContext{};
  m_ctx.plan = &m_plan;
  m_ctx.params = &m_params;
  m_ctx.batch = batch;
  m_ctx.step = step;
  m_ctx.seed = m_seed;
  m_ctx.row_offset = m_row_offset;
  m_ctx.use_graph = m_use_graph;
  m_ctx.params_versioned = m_params_versioned;
  m_ctx.on_boundary = m_hook;
  m_ctx.state = [this](int p, int group) -> float* {
    float* host = m_params.state(size_t(p), group);
    if (!m_dev || !host) return host;
    return reinterpret_cast<float*>(m_dev_params + (reinterpret_cast<char*>(host) - static_cast<char*>(m_params.block())));
  };
  m_ctx.ptr = [this](int t) { return data(t); };
}

void Executor::enqueue(int64_t batch) {
  if (!m_dev) {
    for (size_t i = 0; i < m_host_inputs.size(); ++i) {  // fp32 rows into a low-precision input
      if (!m_host_inputs[i].bytes()) continue;
      const int t = m_plan.graph.inputs[i];
      const Tensor& in = m_plan.graph.tensors[size_t(t)];
      cpu::cast(m_host_inputs[i].as<float>(), DType::f32, data(t), in.dtype, in.elements(batch));
    }
    if (m_uses_copies && !m_params.copies_current()) m_params.refresh_copies();
    m_running = 0;
    try {
      m_backend.launch_plan(m_ctx, m_cache);
    } catch (...) {
      m_running = -1;
      throw;
    }
    return;
  }
  refresh_params();
  if (m_submitted < 0) submit_input(batch);
  m_running = std::exchange(m_submitted, -1);
  m_ctx.variant = m_running;
  try {
    m_dev->begin_consume(m_running);
    m_backend.launch_plan(m_ctx, m_cache);
    m_dev->end_consume(m_running);
  } catch (...) {
    m_running = -1;
    throw;
  }
}

double Executor::finish() {
  AE_CHECK(m_running >= 0, "finish() without launch()");
  double loss = 0;
  try {
    loss = m_backend.finish_plan(m_ctx, m_cache.get());
  } catch (...) {
    m_running = -1;
    throw;
  }
  m_running = -1;
  // The objective's terms. A lone loss term is the value the backend returned (in double on the
  // host, as its loss kernel sums); any other term is read from its [1] tensor.
  const auto& terms = m_plan.graph.terms;
  m_terms.assign(terms.size(), 0.0);
  if (terms.size() == 1 && m_sole_loss_term) {
    m_terms[0] = loss;
    return terms[0].weight == 1.0 ? loss : terms[0].weight * loss;
  }
  double total = 0;
  for (size_t i = 0; i < terms.size(); ++i) {
    float v = 0;
    read(terms[i].tensor, &v, 1);
    m_terms[i] = v;
    total += terms[i].weight_at(m_ctx.step) * double(v);
  }
  return total;
}

double Executor::run(int64_t batch, const cpu::OptConfig* opt, int64_t step) {
  launch(batch, opt, step);
  return finish();
}

double Executor::run(int64_t batch, const std::vector<cpu::OptConfig>& per_group, int64_t step) {
  launch(batch, per_group, step);
  return finish();
}

void Executor::read(int t, float* dst, int64_t rows) const {
  AE_CHECK(t >= 0, "read of an absent tensor");
  const Tensor& ten = m_plan.graph.tensors[t];
  bool whole = ten.role == TensorRole::param || ten.role == TensorRole::param_grad || ten.role == TensorRole::param_copy ||
               ten.role == TensorRole::loss_scale;
  size_t bytes = size_t(ten.bytes(whole ? 1 : rows));
  const float* src = data(t);
  if (m_dev) {
    // The last launch's inputs live in the slot it consumed; after finish() that is the slot just
    // before the one being filled.
    size_t i = input_index(t);
    if (i != size_t(-1)) src = m_slots[i][size_t(m_fill ^ 1)];
    if (ten.dtype == DType::f32) {
      m_dev->download(dst, src, bytes);
    } else {
      std::vector<uint16_t> low(bytes / sizeof(uint16_t));
      m_dev->download(low.data(), src, bytes);
      cpu::cast(low.data(), ten.dtype, dst, DType::f32, int64_t(low.size()));
    }
  } else if (ten.dtype == DType::f32) {
    std::memcpy(dst, src, bytes);
  } else {
    cpu::cast(src, ten.dtype, dst, DType::f32, ten.elements(whole ? 1 : rows));
  }
}

void Executor::sync_params_to_host() {
  if (m_dev) {
    check_params_layout();
    if (m_params.block_bytes()) m_dev->download(m_params.block(), m_dev_params, m_params.block_bytes());
  }
  // The mirror and the host now agree, at a version no other observer has seen.
  m_dev_params_version = m_params.bump_version();
}

void Executor::sync_params_to_device() {
  if (!m_dev) return;
  check_params_layout();
  if (m_params.block_bytes()) m_dev->upload(m_dev_params, m_params.block(), m_params.block_bytes());
  if (m_dev_copies && m_params.copy_block_bytes()) {  // the copies follow the values they round
    m_params.write_copies(m_plan.precision, m_copy_staging.as<void>());
    m_dev->upload(m_dev_copies, m_copy_staging.as<void>(), m_params.copy_block_bytes());
  }
  m_dev_params_version = m_params.version();
  ++m_param_uploads;
}

void Executor::refresh_params() {
  if (m_dev && m_dev_params_version != m_params.version()) sync_params_to_device();
}

void Executor::check_params_layout() const {
  // The mirror is allocated once, and a captured CUDA graph holds pointers into it: a store that
  // was re-created with another layout (ensure_state_slots) needs a new Executor.
  AE_CHECK(m_params.block_bytes() == m_dev_params_bytes, "parameter store changed layout (", m_params.block_bytes(),
           " bytes, the executor's device copy has ", m_dev_params_bytes, "); build a new executor");
}

}  // namespace ae
