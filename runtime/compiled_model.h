// A Model bound to one Backend, with the Plans and Executors it has run kept for the next call:
// building a Plan, allocating its arena, uploading the parameters, capturing a CUDA graph (device)
// or creating oneDNN primitives and packing weights (cpu) happen once per (mode, batch, loss), not
// once per call. Validation during training, the C++/C API and `ae score` run through one.
//
// Kept executors stay correct while the weights change: each launch re-uploads the parameters
// when ParamStore::version() moved on (runtime/executor.h), and the cpu backend re-packs its
// weights on the same signal. Whoever owns a CompiledModel keeps the Model and the Backend alive
// and in place for its lifetime, and does not change the Model's spec under it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "graph/build.h"
#include "runtime/backend.h"
#include "runtime/model.h"

namespace ae {

class Executor;

class CompiledModel {
 public:
  // Keeps at most `capacity` executors, dropping the least recently used beyond that (a caller
  // that sends every batch size from 1 to 1000 must not hold a thousand arenas).
  CompiledModel(const Model& model, Backend& backend, size_t capacity = 8);
  ~CompiledModel();
  CompiledModel(const CompiledModel&) = delete;
  CompiledModel& operator=(const CompiledModel&) = delete;

  // The executor of `mode` at planned batch `batch` (the model's loss unless given), built on the
  // first call and returned as is after that. Forward-only modes read the parameters, never write them.
  Executor& executor(GraphMode mode, int64_t batch, std::optional<Loss> loss = std::nullopt);
  // Drops every kept executor (their device memory goes back to the backend's pool).
  void clear();

  const Model& model() const { return m_model; }
  Backend& backend() const { return m_backend; }
  size_t size() const { return m_entries.size(); }
  // Plans built (and executors created) since construction: what tests check reuse by.
  int64_t plans_built() const { return m_plans_built; }

 private:
  struct Entry {
    GraphMode mode;
    int64_t batch;
    Loss loss;
    Precision precision;  // the Model's precision when it was built
    uint64_t last_use;
    std::unique_ptr<Executor> ex;
  };
  const Model& m_model;
  Backend& m_backend;
  size_t m_capacity;
  std::vector<Entry> m_entries;
  uint64_t m_clock = 0;
  int64_t m_plans_built = 0;
  size_t m_params_bytes = 0;  // the store's layout the entries were built for
};

}  // namespace ae
