// The Executor runs one Plan on one backend: it owns the Plan's arena (allocated once, at the
// worst-case batch) and resolves tensor ids to memory — arena offsets for batch tensors, the
// shared ParamStore for params and their gradients.
#pragma once

#include <memory>

#include "graph/plan.h"
#include "runtime/backend.h"
#include "runtime/memory.h"
#include "runtime/params.h"

namespace ae {

class Executor {
 public:
  Executor(Plan plan, Backend& backend, ParamStore& params);
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  const Plan& plan() const { return m_plan; }
  float* data(int tensor) const;
  float* input(size_t i = 0) const { return data(m_plan.graph.inputs.at(i)); }
  float* output(size_t i = 0) const { return data(m_plan.graph.outputs.at(i)); }
  // Runs every op for `batch` rows (≤ the planned batch). Returns the loss for train/eval plans.
  double run(int64_t batch, const cpu::OptConfig* opt = nullptr, int64_t step = 0);

 private:
  Plan m_plan;
  Backend& m_backend;
  ParamStore& m_params;
  AlignedBlock m_arena;
};

}  // namespace ae
