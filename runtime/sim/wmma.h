// nvcuda::wmma for runtime/sim: half, bf16 and tf32 inputs with float accumulators, as warp
// collectives. Like on a GPU, a fragment is spread over the 32 lanes: lane l holds the tile elements
// with row-major index e*32 + l (e < num_elements). The mapping on real hardware is unspecified;
// code that depends on it is wrong on both. load/store/fill/mma complete only when all 32 lanes of
// the warp call them with the same arguments; mma multiplies exactly and accumulates in fp32 in k
// order, so small-integer inputs give bit-exact results (the sim's GEMM tests rely on that).
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <source_location>
#include <stdexcept>
#include <string>

#include "runtime/sim/device.h"

namespace nvcuda::wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };
namespace precision {
struct tf32 {};
}  // namespace precision

namespace sim_detail {
template <typename USE, int M, int N, int K>
struct Shape;
template <int M, int N, int K>
struct Shape<matrix_a, M, N, K> {
  static constexpr int rows = M, cols = K;
};
template <int M, int N, int K>
struct Shape<matrix_b, M, N, K> {
  static constexpr int rows = K, cols = N;
};
template <int M, int N, int K>
struct Shape<accumulator, M, N, K> {
  static constexpr int rows = M, cols = N;
};
template <typename T>
struct Storage {
  using type = T;
};
template <>
struct Storage<precision::tf32> {
  using type = float;
};
template <typename T, int M, int N, int K>
constexpr bool k_supported =
    (std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>)
        ? ((M == 16 && N == 16 && K == 16) || (M == 32 && N == 8 && K == 16) || (M == 8 && N == 32 && K == 16))
    : std::is_same_v<T, precision::tf32> ? (M == 16 && N == 16 && K == 8)
    : std::is_same_v<T, float>           ? ((M == 16 && N == 16 && (K == 16 || K == 8)) || (M == 32 && N == 8 && K == 16) ||
                                  (M == 8 && N == 32 && K == 16))
                                         : false;
}  // namespace sim_detail

template <typename USE, int M, int N, int K, typename T, typename LAYOUT = void>
class fragment {
  static_assert(sim_detail::k_supported<T, M, N, K>,
                "runtime/sim supports wmma m16n16k16/m32n8k16/m8n32k16 (half, bf16; float accumulators) and "
                "m16n16k8 (tf32)");

 public:
  using element_type = typename sim_detail::Storage<T>::type;
  using storage_element_type = element_type;
  static constexpr int rows = sim_detail::Shape<USE, M, N, K>::rows;
  static constexpr int cols = sim_detail::Shape<USE, M, N, K>::cols;
  static constexpr int num_elements = rows * cols / 32;
  element_type x[num_elements];
};

// Rounds to the nearest tf32 value (10 mantissa bits), ties away from zero, as cvt.rna.tf32.f32.
inline float __float_to_tf32(float f) {
  uint32_t u = std::bit_cast<uint32_t>(f);
  if ((u & 0x7f800000u) == 0x7f800000u) return f;  // inf and NaN unchanged
  return std::bit_cast<float>((u + 0x1000u) & 0xffffe000u);
}

namespace sim_detail {
using ae::sim::detail::WarpCall;

inline std::string where_text(const WarpCall* c) {
  return std::string(c->where.file_name()) + ":" + std::to_string(c->where.line());
}

// Every wmma collective needs the whole warp and, for load/store, one pointer and ldm for all lanes.
inline void check_warp(WarpCall* const* lanes, bool same_memory) {
  for (int l = 0; l < 32; ++l)
    if (!lanes[l]) throw std::runtime_error("wmma needs all 32 lanes of a warp; lane " + std::to_string(l) + " is missing");
  if (!same_memory) return;
  for (int l = 1; l < 32; ++l)
    if (lanes[l]->ptr[1] != lanes[0]->ptr[1] || lanes[l]->ldm != lanes[0]->ldm || lanes[l]->layout != lanes[0]->layout)
      throw std::runtime_error(std::string(lanes[0]->what) + ": lanes of one warp pass different pointers, ldm or layout (" +
                               where_text(lanes[0]) + ")");
}

// The alignment rules of the real API: 256-bit aligned pointer, ldm a multiple of 16 bytes.
template <typename E>
void check_memory(const WarpCall* c) {
  if (reinterpret_cast<uintptr_t>(c->ptr[1]) % 32 != 0 || (c->ldm * sizeof(E)) % 16 != 0)
    throw std::runtime_error(std::string(c->what) + ": pointer must be 32-byte aligned and ldm*sizeof(element) a "
                             "multiple of 16 bytes (" + where_text(c) + ")");
}

template <typename FRAG>
void complete_fill(WarpCall* const* lanes, unsigned) {
  check_warp(lanes, false);
  for (int l = 0; l < 32; ++l) {
    auto* f = static_cast<FRAG*>(lanes[l]->ptr[0]);
    typename FRAG::element_type v;
    std::memcpy(&v, lanes[l]->in, sizeof v);
    for (auto& e : f->x) e = v;
  }
}

template <typename FRAG, bool STORE>
void complete_memory(WarpCall* const* lanes, unsigned) {
  using E = typename FRAG::element_type;
  check_warp(lanes, true);
  check_memory<E>(lanes[0]);
  E* mem = static_cast<E*>(lanes[0]->ptr[1]);
  size_t ldm = lanes[0]->ldm;
  bool col = lanes[0]->layout == mem_col_major;
  for (int l = 0; l < 32; ++l) {
    auto* f = static_cast<FRAG*>(lanes[l]->ptr[0]);
    ae::sim::detail::checks_lane(l);  // these elements are lane l's accesses
    for (int e = 0; e < FRAG::num_elements; ++e) {
      int idx = e * 32 + l, r = idx / FRAG::cols, c = idx % FRAG::cols;
      E& m = col ? mem[size_t(c) * ldm + size_t(r)] : mem[size_t(r) * ldm + size_t(c)];
      if constexpr (STORE) m = f->x[e];
      else f->x[e] = m;
    }
  }
}

template <typename E>
float mma_input(E v, bool tf32) {
  float f = float(v);
  // Tensor cores read only the tf32 bits of an fp32 operand.
  return tf32 ? std::bit_cast<float>(std::bit_cast<uint32_t>(f) & 0xffffe000u) : f;
}

template <typename D, typename A, typename B, typename C, bool TF32>
void complete_mma(WarpCall* const* lanes, unsigned) {
  check_warp(lanes, false);
  constexpr int M = A::rows, K = A::cols, N = B::cols;
  float a[M * K], b[K * N], acc[M * N];
  for (int l = 0; l < 32; ++l) {
    auto* fa = static_cast<const A*>(lanes[l]->ptr[1]);
    auto* fb = static_cast<const B*>(lanes[l]->ptr[2]);
    auto* fc = static_cast<const C*>(lanes[l]->ptr[3]);
    for (int e = 0; e < A::num_elements; ++e) a[e * 32 + l] = mma_input(fa->x[e], TF32);
    for (int e = 0; e < B::num_elements; ++e) b[e * 32 + l] = mma_input(fb->x[e], TF32);
    for (int e = 0; e < C::num_elements; ++e) acc[e * 32 + l] = fc->x[e];
  }
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      float s = acc[i * N + j];
      for (int k = 0; k < K; ++k) s += a[i * K + k] * b[k * N + j];
      acc[i * N + j] = s;
    }
  for (int l = 0; l < 32; ++l) {
    auto* fd = static_cast<D*>(lanes[l]->ptr[0]);
    for (int e = 0; e < D::num_elements; ++e) fd->x[e] = acc[e * 32 + l];
  }
}

inline void collective(ae::sim::detail::WarpCompleteFn fn, const char* what, void* frag, const void* mem, size_t ldm,
                       int layout, std::source_location where, void* p2 = nullptr, void* p3 = nullptr) {
  WarpCall c;
  c.complete = fn;
  c.what = what;
  c.mask = 0xffffffffu;
  c.ptr[0] = frag;
  c.ptr[1] = const_cast<void*>(mem);
  c.ptr[2] = p2;
  c.ptr[3] = p3;
  c.ldm = ldm;
  c.layout = layout;
  c.where = where;
  ae::sim::detail::warp_collective(c);
}

template <typename LAYOUT>
constexpr int layout_of() {
  return std::is_same_v<LAYOUT, col_major> ? mem_col_major : mem_row_major;
}
}  // namespace sim_detail

template <typename USE, int M, int N, int K, typename T, typename LAYOUT>
void fill_fragment(fragment<USE, M, N, K, T, LAYOUT>& f,
                   const typename fragment<USE, M, N, K, T, LAYOUT>::element_type& v,
                   std::source_location where = std::source_location::current()) {
  using F = fragment<USE, M, N, K, T, LAYOUT>;
  ae::sim::detail::WarpCall c;
  c.complete = sim_detail::complete_fill<F>;
  c.what = "wmma::fill_fragment";
  c.mask = 0xffffffffu;
  c.ptr[0] = &f;
  std::memcpy(c.in, &v, sizeof v);
  c.where = where;
  ae::sim::detail::warp_collective(c);
}

template <typename USE, int M, int N, int K, typename T, typename LAYOUT>
void load_matrix_sync(fragment<USE, M, N, K, T, LAYOUT>& f,
                      const typename fragment<USE, M, N, K, T, LAYOUT>::element_type* p, unsigned ldm,
                      std::source_location where = std::source_location::current()) {
  static_assert(!std::is_same_v<USE, accumulator>, "accumulator loads take a layout_t argument");
  using F = fragment<USE, M, N, K, T, LAYOUT>;
  sim_detail::collective(sim_detail::complete_memory<F, false>, "wmma::load_matrix_sync", &f, p, ldm,
                         sim_detail::layout_of<LAYOUT>(), where);
}

template <int M, int N, int K>
void load_matrix_sync(fragment<accumulator, M, N, K, float>& f, const float* p, unsigned ldm, layout_t layout,
                      std::source_location where = std::source_location::current()) {
  using F = fragment<accumulator, M, N, K, float>;
  sim_detail::collective(sim_detail::complete_memory<F, false>, "wmma::load_matrix_sync", &f, p, ldm, layout, where);
}

template <int M, int N, int K>
void store_matrix_sync(float* p, const fragment<accumulator, M, N, K, float>& f, unsigned ldm, layout_t layout,
                       std::source_location where = std::source_location::current()) {
  using F = fragment<accumulator, M, N, K, float>;
  sim_detail::collective(sim_detail::complete_memory<F, true>, "wmma::store_matrix_sync", const_cast<F*>(&f), p, ldm,
                         layout, where);
}

template <int M, int N, int K, typename T, typename LA, typename LB>
void mma_sync(fragment<accumulator, M, N, K, float>& d, const fragment<matrix_a, M, N, K, T, LA>& a,
              const fragment<matrix_b, M, N, K, T, LB>& b, const fragment<accumulator, M, N, K, float>& c,
              std::source_location where = std::source_location::current()) {
  using D = fragment<accumulator, M, N, K, float>;
  using A = fragment<matrix_a, M, N, K, T, LA>;
  using B = fragment<matrix_b, M, N, K, T, LB>;
  constexpr bool tf32 = std::is_same_v<T, precision::tf32>;
  // ptr[1..3] = a, b, c; c may alias d, so the completion reads all inputs before writing d.
  sim_detail::collective(sim_detail::complete_mma<D, A, B, D, tf32>, "wmma::mma_sync", &d, &a, 0, 0, where,
                         const_cast<B*>(&b), const_cast<D*>(&c));
}

}  // namespace nvcuda::wmma
