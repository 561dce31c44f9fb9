// The parameter store: every weight and bias of a model, their gradients and the optimizer's
// state, carved from one aligned block. Param i is ParamRegistry::params[i] (graph/param_registry.h)
// and Graph::params[i] of every Plan built from the same Spec.
#pragma once

#include <string>
#include <vector>

#include "graph/spec.h"
#include "runtime/memory.h"

namespace ae {

struct ParamInfo {
  std::string name;            // PyTorch state_dict name
  std::vector<int64_t> dims;   // PyTorch shape
  int64_t size() const;
};

class ParamStore {
 public:
  ParamStore() = default;
  // Values, gradients and `state_slots` optimizer floats per element, all zero.
  ParamStore(std::vector<ParamInfo> infos, int state_slots);
  static std::vector<ParamInfo> infos_for(const Spec& spec);  // from the parameter registry

  size_t count() const { return m_infos.size(); }
  const ParamInfo& info(size_t i) const { return m_infos[i]; }
  int index_of(const std::string& name) const;  // -1 when absent
  float* value(size_t i) const { return m_block.as<float>(m_value_off[i]); }
  float* grad(size_t i) const { return m_block.as<float>(m_grad_off[i]); }
  float* state(size_t i) const { return m_state_slots ? m_block.as<float>(m_state_off[i]) : nullptr; }
  int state_slots() const { return m_state_slots; }
  int64_t total_elements() const;
  void zero_state();
  // The one block holding values, gradients and state: a device backend mirrors it byte for byte
  // (same offsets), so one copy moves the whole store either way.
  void* block() const { return m_block.as<void>(); }
  size_t block_bytes() const { return m_block.bytes(); }

 private:
  std::vector<ParamInfo> m_infos;
  std::vector<size_t> m_value_off, m_grad_off, m_state_off;
  int m_state_slots = 0;
  AlignedBlock m_block;
};

}  // namespace ae
