// Parameter store layout.
#include "runtime/params.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>

#include "graph/param_registry.h"
#include "kernels/common/amp.h"
#include "kernels/common/error.h"
#include "kernels/cpu/lowp_round.h"

namespace ae {

namespace {
size_t aligned_bytes(int64_t elements) {
  size_t b = size_t(elements) * sizeof(float);
  return (b + AlignedBlock::ALIGN - 1) / AlignedBlock::ALIGN * AlignedBlock::ALIGN;
}
}  // namespace

ParamStore::ParamStore(std::vector<ParamInfo> infos, int state_slots) : m_infos(std::move(infos)), m_state_slots(state_slots) {
  size_t off = 0;
  for (const auto& p : m_infos) {
    m_value_off.push_back(off);
    off += aligned_bytes(p.size());
    m_grad_off.push_back(off);
    off += aligned_bytes(p.size());
    m_state_off.emplace_back();
    for (size_t k = 0; k < std::max<size_t>(p.groups.size(), 1); ++k) {
      m_state_off.back().push_back(off);
      off += aligned_bytes(p.size() * state_slots);
    }
  }
  m_amp_off = off;
  off += AlignedBlock::ALIGN;  // AMP_PHASES × 16 bytes
  static_assert(AMP_PHASES * sizeof(AmpState) == AlignedBlock::ALIGN);
  m_block = AlignedBlock(off);
  reset_amp();
  for (const auto& p : m_infos) {
    m_copy_off.push_back(m_copy_bytes);
    m_copy_bytes += (size_t(p.size()) * 2 + AlignedBlock::ALIGN - 1) / AlignedBlock::ALIGN * AlignedBlock::ALIGN;
  }
}

float* ParamStore::amp(int phase) const {
  AE_CHECK(phase >= 0 && phase < AMP_PHASES && m_block.bytes(), "parameter store: no loss-scale state for phase ", phase);
  return m_block.as<float>(m_amp_off + size_t(phase) * sizeof(AmpState));
}

void ParamStore::reset_amp() {
  if (!m_block.bytes()) return;  // a default-constructed store has no block
  const AmpState s = amp_initial_state();
  for (int p = 0; p < AMP_PHASES; ++p) std::memcpy(amp(p), &s, sizeof s);
}

float* ParamStore::state(size_t i, int group) const {
  if (!m_state_slots) return nullptr;
  const std::vector<int>& groups = m_infos[i].groups;
  if (groups.empty()) return state(i);
  for (size_t k = 0; k < groups.size(); ++k)
    if (groups[k] == group) return state_block(i, k);
  std::string list;
  for (int g : groups) list += (list.empty() ? "" : ", ") + std::to_string(g);
  AE_FAIL("parameter ", m_infos[i].name, " has no optimizer state for group ", group, " (its groups: ", list, ")");
}

uint64_t ParamVersion::next() {
  static std::atomic<uint64_t> counter{0};
  return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}

int64_t ParamInfo::size() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

std::vector<ParamInfo> ParamStore::infos_for(const Spec& spec) {
  std::vector<ParamInfo> out;
  for (const ParamDef& p : param_registry(spec).params) out.push_back({p.name, p.dims, p.file_names, p.groups});
  return out;
}

int ParamStore::index_of(const std::string& name) const {
  for (size_t i = 0; i < m_infos.size(); ++i)
    if (m_infos[i].name == name) return int(i);
  return -1;
}

int64_t ParamStore::total_elements() const {
  int64_t n = 0;
  for (const auto& p : m_infos) n += p.size();
  return n;
}

void ParamStore::ensure_copies(DType dtype) {
  AE_CHECK(dtype == DType::bf16 || dtype == DType::f16, "compute copies are bf16 or fp16, not ", dtype_name(dtype));
  if (m_infos.empty()) return;
  if (!has_copies()) m_copy_block = AlignedBlock(std::max<size_t>(m_copy_bytes, 1));
  if (dtype != m_copy_dtype) m_copies_version = 0;
  m_copy_dtype = dtype;
}

// Once per host write of the values, not per step (the optimizer keeps the copies current), so a
// plain loop over lowp_round.h's rounding does: the store stays free of the OpenMP kernels (the
// fuzz targets link it without them). kernels/cpu/cast.cpp rounds the same bits, faster.
void ParamStore::write_copies(DType dtype, void* dst) const {
  AE_CHECK(dtype == DType::bf16 || dtype == DType::f16, "compute copies are bf16 or fp16, not ", dtype_name(dtype));
  for (size_t i = 0; i < m_infos.size(); ++i) {
    const float* v = value(i);
    auto* c = reinterpret_cast<uint16_t*>(static_cast<char*>(dst) + m_copy_off[i]);
    const int64_t n = m_infos[i].size();
    if (dtype == DType::bf16)
      for (int64_t j = 0; j < n; ++j) c[j] = cpu::bf16_bits(v[j]);
    else
      for (int64_t j = 0; j < n; ++j) c[j] = cpu::fp16_bits(v[j]);
  }
}

void ParamStore::refresh_copies() {
  AE_CHECK(has_copies(), "refresh_copies before ensure_copies");
  write_copies(m_copy_dtype, m_copy_block.as<void>());
  m_copies_version = version();
}

void ParamStore::zero_state() {
  for (size_t i = 0; i < m_infos.size(); ++i)
    for (size_t k = 0; m_state_slots && k < state_blocks(i); ++k)
      std::memset(state_block(i, k), 0, size_t(m_infos[i].size() * m_state_slots) * sizeof(float));
  reset_amp();
}

}  // namespace ae
