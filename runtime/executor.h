// The Executor runs one Plan on one backend: it owns the Plan's arena (allocated once, at the
// worst-case batch) and resolves tensor ids to memory — arena offsets for batch tensors, the
// shared ParamStore for params and their gradients.
//
// On a device backend (Backend::device() non-null) the arena and a byte-for-byte mirror of the
// ParamStore live in device memory (from the backend's pool); each plan input has two pinned host
// staging buffers and two device slots, so the host fills and uploads batch i+1 while batch i
// computes. Callers write inputs through input(), read results through read(), and call
// sync_params_to_host() before they look at the ParamStore — the same code runs on every backend.
//
// An Executor may be kept and run many times (runtime/compiled_model.h). Its device mirror records
// the ParamStore::version() it was uploaded at; launch() re-uploads when the store's version has
// moved on (someone wrote values on the host), and only then.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <tuple>
#include <vector>

#include "graph/plan.h"
#include "runtime/backend.h"
#include "runtime/memory.h"
#include "runtime/params.h"

namespace ae {

// The device arena's layout when the device asks for guard bytes between buffers (cuda-sim, for
// memcheck): tensor → offset, the arena's size, and the named byte ranges of its tensors.
struct GuardedArena {
  std::vector<int64_t> offset;  // per tensor, -1 when not in the arena
  int64_t bytes = 0;
  std::vector<std::tuple<int64_t, int64_t, std::string>> names;  // [lo, hi) and a name, sorted
};
GuardedArena guarded_arena(const Plan& plan, int64_t guard);

class Executor {
 public:
  Executor(Plan plan, Backend& backend, ParamStore& params);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  const Plan& plan() const { return m_plan; }
  bool on_device() const { return m_dev != nullptr; }
  // Backend memory of a tensor (device memory on a device backend); nullptr for -1.
  float* data(int tensor) const;
  // Host buffer the next batch of input i is written to ([plan batch, width], fp32); on a device
  // backend a pinned staging buffer that alternates after every submit_input(). An input the plan
  // stores in bf16/fp16 is written here as fp32 all the same: one host buffer, converted as the
  // batch is launched (host) or submitted (device).
  float* input(size_t i = 0) const;
  // Hands the `rows` rows written to input() to the next launch (device: an async upload on the copy
  // stream). run()/launch() submit by themselves when nothing was submitted.
  void submit_input(int64_t rows);
  // Enqueues every op for `batch` rows (≤ the planned batch); finish() waits and returns the
  // objective (Σ weight·term) for train/eval plans, 0 for others. run() = launch() + finish().
  void launch(int64_t batch, const cpu::OptConfig* opt = nullptr, int64_t step = 0);
  // The same with one optimizer per parameter group (group g: per_group[g], its own kind,
  // hyperparameters and learning rate); per_group must cover every group of the plan and outlive
  // finish(), as `opt` must.
  void launch(int64_t batch, const std::vector<cpu::OptConfig>& per_group, int64_t step);
  int groups() const { return m_groups; }  // parameter groups of the plan's graph
  double finish();
  double run(int64_t batch, const cpu::OptConfig* opt = nullptr, int64_t step = 0);
  double run(int64_t batch, const std::vector<cpu::OptConfig>& per_group, int64_t step);
  // Each objective term's value in the last finished run, in Graph::terms order (unweighted).
  const std::vector<double>& term_values() const { return m_terms; }
  // Copies the first `rows` rows of a batch tensor (or a whole param) to host memory `dst`.
  void read(int tensor, float* dst, int64_t rows) const;
  // Device: downloads params, gradients and optimizer state into the ParamStore. On every backend
  // it bumps the store's version: the host values have changed (by the download, or on a host
  // backend by the steps that ran), so other executors and packed weights built on them refresh.
  void sync_params_to_host();
  // Device: uploads the ParamStore now (launch() does it by itself when the version changed).
  void sync_params_to_device();
  // Device: uploads the ParamStore when its version differs from the one the mirror holds.
  void refresh_params();
  // Whole-store uploads so far (device backends; 0 on the host), for tests and reports.
  int64_t param_uploads() const { return m_param_uploads; }
  // Device backends: capture/replay a CUDA graph for full batches (default) or run op by op.
  void set_use_graph(bool on) { m_use_graph = on; }
  bool use_graph() const { return m_use_graph; }
  // The Philox key of every later launch's per-step draws (OpContext::seed, StepScalars::seed):
  // the model's seed, so noise is a function of (seed, step, purpose, index) on every backend.
  void set_seed(uint64_t seed) { m_seed = seed; }
  uint64_t seed() const { return m_seed; }
  // Data rows before the next launch's batch (OpContext::row_offset): scoring a VAE keys each
  // row's ε on its data row, so a score does not depend on the batch size. 0 in training.
  void set_row_offset(uint64_t rows) { m_row_offset = rows; }
  // The caller promises to bump ParamStore::version() whenever it writes values on the host (what a
  // CompiledModel's executors do): the backend may then keep copies derived from them
  // (OpContext::params_versioned). Off by default.
  void set_params_versioned(bool on) { m_params_versioned = on; }
  // Passed to every later launch as OpContext::on_boundary (empty: none).
  void set_boundary_hook(std::function<void(size_t)> hook) { m_hook = std::move(hook); }
  Backend& backend() const { return m_backend; }

 private:
  void release();                        // device memory back to the pool
  void begin_context(int64_t batch, int64_t step);  // launch(): everything but the optimizers
  void enqueue(int64_t batch);                      // launch(): hands the context to the backend
  void check_params_layout() const;
  size_t input_index(int tensor) const;  // position in graph.inputs, or npos

  Plan m_plan;
  Backend& m_backend;
  ParamStore& m_params;
  Device* m_dev = nullptr;
  AlignedBlock m_arena;          // host backends
  char* m_dev_arena = nullptr;   // device backends
  std::vector<int64_t> m_dev_offset;  // tensor → offset in m_dev_arena (guarded_arena)
  char* m_dev_params = nullptr;  // device mirror of m_params.block()
  size_t m_dev_params_bytes = 0;  // block_bytes() of the store when the mirror was allocated
  uint64_t m_dev_params_version = 0;  // ParamStore version the mirror holds (0: none)
  int64_t m_param_uploads = 0;
  // Per input stored in a low-precision dtype (graph/precision.cpp): the fp32 rows input() hands
  // out, converted into the arena tensor as the batch is launched (host backends) or into the
  // pinned staging buffer as it is submitted (device backends). Empty for an fp32 input.
  std::vector<AlignedBlock> m_host_inputs;
  bool m_uses_copies = false;    // the plan reads or writes parameters' compute copies
  // Device backends: the compute copies' mirror (ParamStore::copy_offset layout, Plan::precision),
  // made from the host values whenever the fp32 mirror is uploaded; the optimizer keeps it current.
  char* m_dev_copies = nullptr;
  AlignedBlock m_copy_staging;
  // Per input: [2] pinned staging buffers and [2] device slots (device backends).
  std::vector<std::array<float*, 2>> m_staging, m_slots;
  int m_fill = 0;                // staging buffer input() returns
  int m_submitted = -1;          // slot submitted for the next launch, or -1
  int m_running = -1;            // slot the launched work reads, or -1
  bool m_use_graph = true;
  uint64_t m_seed = 0;
  uint64_t m_row_offset = 0;
  bool m_params_versioned = false;
  std::function<void(size_t)> m_hook;
  std::unique_ptr<PlanCache> m_cache;
  OpContext m_ctx;
  bool m_sole_loss_term = false;  // the objective is one term, a loss op's value
  int m_groups = 1;               // parameter groups of the plan's graph
  std::vector<double> m_terms;
};

}  // namespace ae
