// Kept executors per (mode, batch, loss), least recently used out first.
#include "runtime/compiled_model.h"

#include <algorithm>

#include "kernels/common/error.h"
#include "runtime/executor.h"

namespace ae {

CompiledModel::CompiledModel(const Model& model, Backend& backend, size_t capacity)
    : m_model(model), m_backend(backend), m_capacity(std::max<size_t>(capacity, 1)) {}

CompiledModel::~CompiledModel() = default;

void CompiledModel::clear() {
  m_entries.clear();
}

Executor& CompiledModel::executor(GraphMode mode, int64_t batch, std::optional<Loss> loss) {
  AE_CHECK(batch >= 1, "batch must be ≥ 1, got ", batch);
  const Loss l = loss.value_or(m_model.loss);
  // A store re-created with another layout (more optimizer slots) invalidates every device mirror.
  if (m_model.params.block_bytes() != m_params_bytes) {
    m_entries.clear();
    m_params_bytes = m_model.params.block_bytes();
  }
  ++m_clock;
  for (Entry& e : m_entries)
    if (e.mode == mode && e.batch == batch && e.loss == l && e.precision == m_model.precision) {
      e.last_use = m_clock;
      return *e.ex;
    }
  if (m_entries.size() >= m_capacity)
    m_entries.erase(std::min_element(m_entries.begin(), m_entries.end(),
                                     [](const Entry& a, const Entry& b) { return a.last_use < b.last_use; }));
  // Forward-only and eval plans never write the store; Executor takes it non-const for training.
  auto ex = std::make_unique<Executor>(make_plan(m_model.spec, mode, l, batch, true, m_model.precision), m_backend,
                                       const_cast<ParamStore&>(m_model.params));
  ex->set_params_versioned(true);  // every host write to a Model's values bumps its version
  ++m_plans_built;
  m_entries.push_back(Entry{mode, batch, l, m_model.precision, m_clock, std::move(ex)});
  return *m_entries.back().ex;
}

}  // namespace ae
