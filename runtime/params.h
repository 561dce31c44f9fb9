// The parameter store: every weight and bias of a model, their gradients and the optimizer's
// state, carved from one aligned block. Param i is ParamRegistry::params[i] (graph/param_registry.h)
// and Graph::params[i] of every Plan built from the same Spec. A parameter in several optimizer
// groups (an adversarial autoencoder's encoder: reconstruction and generator) has one optimizer
// state per (parameter, group); the gradient buffer is one, each phase overwriting it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "graph/spec.h"
#include "kernels/common/dtype.h"
#include "runtime/memory.h"

namespace ae {

struct ParamInfo {
  std::string name;            // PyTorch state_dict name
  std::vector<int64_t> dims;   // PyTorch shape
  std::vector<std::string> file_names;  // stored in files as these equal row blocks (ParamDef::file_names)
  // Its optimizer groups, first group first (ParamDef::groups): one state block each. Empty: one
  // block that serves any group (stores built by hand for a graph, in tests).
  std::vector<int> groups;
  int64_t size() const;
};

// Versions of host-side parameter values. Every value is drawn once, process-wide, so a version
// names one content of one store: a copy that recorded it (a device mirror, packed GEMM weights)
// is current exactly when the store still has that version. Copying or moving a store gives the
// destination a fresh version, since its contents are no longer what an observer recorded.
class ParamVersion {
 public:
  ParamVersion() : m_value(next()) {}
  ParamVersion(const ParamVersion&) : m_value(next()) {}
  ParamVersion& operator=(const ParamVersion&) { return m_value = next(), *this; }
  uint64_t value() const { return m_value; }
  uint64_t bump() { return m_value = next(); }

 private:
  static uint64_t next();
  uint64_t m_value;
};

class ParamStore {
 public:
  ParamStore() = default;
  // Values, gradients and `state_slots` optimizer floats per element and group, all zero. Per
  // parameter the block holds its value, its gradient, then its groups' states in ParamInfo::groups
  // order, each 128-byte aligned.
  ParamStore(std::vector<ParamInfo> infos, int state_slots);
  static std::vector<ParamInfo> infos_for(const Spec& spec);  // from the parameter registry

  size_t count() const { return m_infos.size(); }
  const ParamInfo& info(size_t i) const { return m_infos[i]; }
  int index_of(const std::string& name) const;  // -1 when absent
  float* value(size_t i) const { return m_block.as<float>(m_value_off[i]); }
  float* grad(size_t i) const { return m_block.as<float>(m_grad_off[i]); }
  // The optimizer state ([slots × size]) of param i in its first group, or nullptr without slots.
  float* state(size_t i) const { return m_state_slots ? m_block.as<float>(m_state_off[i][0]) : nullptr; }
  // ...in group `group`, which must be one of the param's groups (any group when it lists none).
  float* state(size_t i, int group) const;
  // The param's state blocks, in order; block k is group state_group(i, k) (−1: any group).
  size_t state_blocks(size_t i) const { return m_state_off[i].size(); }
  float* state_block(size_t i, size_t k) const { return m_state_slots ? m_block.as<float>(m_state_off[i][k]) : nullptr; }
  int state_group(size_t i, size_t k) const { return m_infos[i].groups.empty() ? -1 : m_infos[i].groups[k]; }
  int state_slots() const { return m_state_slots; }
  int64_t total_elements() const;
  void zero_state();
  // The version of the host values (see ParamVersion). Whoever writes values on the host bumps it
  // (initialisation, loading, copying weights in, syncing a device's trained copy down); a cached
  // executor re-uploads or re-packs when the version it recorded differs. Training steps on the
  // host write values without bumping: the trainer bumps when it syncs after them.
  uint64_t version() const { return m_version.value(); }
  uint64_t bump_version() { return m_version.bump(); }
  // The one block holding values, gradients and state: a device backend mirrors it byte for byte
  // (same offsets), so one copy moves the whole store either way.
  void* block() const { return m_block.as<void>(); }
  size_t block_bytes() const { return m_block.bytes(); }

  // Mixed precision: each parameter's compute copy (graph/precision.cpp's param_copy), bf16 or
  // fp16, in a block of its own that ensure_copies() allocates on first use, so the fp32 block's
  // layout (which a device mirrors byte for byte) never changes. Both types are 2 bytes, so the
  // copies' layout (copy_offset) is one for either. An optimizer step writes the copies of the
  // parameters it updates in the same pass, which keeps them current without a version bump;
  // whoever writes values on the host bumps the version instead, and refresh_copies() then makes
  // every copy from its value again. A device executor keeps its own mirror of the copies in the
  // plan's dtype and fills it with write_copies().
  void ensure_copies(DType dtype);
  bool has_copies() const { return m_copy_block.bytes() > 0; }
  DType copy_dtype() const { return m_copy_dtype; }
  void* copy(size_t i) const { return m_copy_block.as<char>() + m_copy_off[i]; }
  bool copies_current() const { return has_copies() && m_copies_version == version(); }
  void refresh_copies();
  size_t copy_offset(size_t i) const { return m_copy_off[i]; }
  size_t copy_block_bytes() const { return m_copy_bytes; }
  // Every value rounded to `dtype` (nearest even) into dst, laid out as copy_offset() says.
  void write_copies(DType dtype, void* dst) const;

  // fp16's dynamic loss scale (kernels/common/amp.h's AmpState: scale, growth count, found-inf flag,
  // skipped steps), one per training phase (Graph::phase), 16 bytes each at the end of the block:
  // the device mirror carries them, the fp16 plan's kernels keep them there across steps (a
  // captured graph replays with them), and a sync down brings them back for the epoch lines and
  // checkpoints. Each starts at scale 2^16; zero_state() and reset_amp() start them again.
  static constexpr int AMP_PHASES = 8;
  float* amp(int phase = 0) const;
  void reset_amp();

 private:
  std::vector<ParamInfo> m_infos;
  std::vector<size_t> m_value_off, m_grad_off;
  std::vector<std::vector<size_t>> m_state_off;  // per param, per state block
  int m_state_slots = 0;
  AlignedBlock m_block;
  ParamVersion m_version;
  size_t m_amp_off = 0;
  AlignedBlock m_copy_block;          // compute copies (empty until ensure_copies)
  std::vector<size_t> m_copy_off;     // byte offsets of each param's copy, 128-byte aligned
  size_t m_copy_bytes = 0;
  DType m_copy_dtype = DType::bf16;
  uint64_t m_copies_version = 0;      // the version() the copies were made at (0: never)
};

}  // namespace ae
