// Device side of runtime/sim: what a CUDA kernel sees when the host compiler builds it against the
// sim. Built-in variables are per-worker thread_locals that the scheduler sets before it resumes a
// CUDA thread's fiber; barriers and warp collectives switch fibers; atomics use std::atomic_ref
// because blocks run in parallel on worker threads. Included only through cuda_sim.h.
#pragma once

#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <source_location>
#include <type_traits>

#include "runtime/sim/sim.h"

namespace ae::sim::detail {

// The built-in variables of the running CUDA thread, in one object so that racecheck can leave
// the kernels' reads of them out of its shadow of static shared memory (both are thread_local).
struct Builtins {
  uint3 thread_idx{0, 0, 0};
  uint3 block_idx{0, 0, 0};
  dim3 block_dim{1, 1, 1};
  dim3 grid_dim{1, 1, 1};
  unsigned char* dynamic_smem = nullptr;  // [smem_bytes of the launch]
};
inline thread_local Builtins t_builtins;
inline constexpr int k_warp_size = 32;

struct WarpCall;
// Completes one warp collective once every lane named in the mask has arrived. lanes[i] is lane
// i's call, or null when lane i does not take part (outside the mask, exited, or absent in a
// partial warp). Runs on the scheduler's stack while all those lanes are suspended.
using WarpCompleteFn = void (*)(WarpCall* const* lanes, unsigned mask);

// One lane's side of a warp collective; lives on the CUDA thread's fiber stack while it waits.
struct WarpCall {
  WarpCompleteFn complete = nullptr;  // also identifies the collective: lanes must agree on it
  const char* what = "";              // intrinsic name, for error messages
  unsigned mask = 0;
  int lane = 0;                       // set by the scheduler
  int arg = 0;                        // source lane, delta, xor mask or predicate
  int width = 32;
  int size = 0;                       // bytes of `in` that carry the value
  alignas(16) unsigned char in[16] = {};
  alignas(16) unsigned char out[16] = {};
  void* ptr[4] = {};                  // wmma: fragments and the memory operand
  size_t ldm = 0;
  int layout = 0;
  std::source_location where;
};

enum class BarrierKind { plain, count, all, any };

// Suspends the calling CUDA thread at a block barrier; returns the count/and/or result.
int block_barrier(BarrierKind kind, int predicate, std::source_location where);
// Suspends the calling lane until the collective completes; the result is then in call.out.
void warp_collective(WarpCall& call);
// Lanes of the caller's warp that exist and have not exited.
unsigned live_lanes();
[[noreturn]] void trap(const char* why);
// For racecheck and memcheck (checks.cpp): the accesses a warp collective's completion makes from
// now on are lane `lane`'s (wmma stores each lane's fragment elements and loads each lane's).
void checks_lane(int lane);

void complete_shfl_idx(WarpCall* const* lanes, unsigned mask);
void complete_shfl_up(WarpCall* const* lanes, unsigned mask);
void complete_shfl_down(WarpCall* const* lanes, unsigned mask);
void complete_shfl_xor(WarpCall* const* lanes, unsigned mask);
void complete_ballot(WarpCall* const* lanes, unsigned mask);
void complete_all(WarpCall* const* lanes, unsigned mask);
void complete_any(WarpCall* const* lanes, unsigned mask);
void complete_syncwarp(WarpCall* const* lanes, unsigned mask);

template <typename T>
T shuffle(WarpCompleteFn fn, const char* what, unsigned mask, T var, int arg, int width,
          std::source_location where) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 16,
                "warp shuffles move trivially copyable values of at most 16 bytes");
  WarpCall c;
  c.complete = fn;
  c.what = what;
  c.mask = mask;
  c.arg = arg;
  c.width = width;
  c.size = int(sizeof(T));
  std::memcpy(c.in, &var, sizeof(T));
  c.where = where;
  warp_collective(c);
  T r;
  std::memcpy(&r, c.out, sizeof(T));
  return r;
}

inline unsigned vote(WarpCompleteFn fn, const char* what, unsigned mask, int pred, std::source_location where) {
  WarpCall c;
  c.complete = fn;
  c.what = what;
  c.mask = mask;
  c.arg = pred != 0;
  c.where = where;
  warp_collective(c);
  unsigned r;
  std::memcpy(&r, c.out, sizeof r);
  return r;
}

// CUDA atomics are read-modify-write without ordering beyond the location itself; seq_cst is
// stronger than needed but costs nothing extra on x86 and keeps cross-block tests deterministic.
template <typename T, typename F>
T atomic_update(T* address, F f) {
  std::atomic_ref<T> ref(*address);
  T old = ref.load();
  while (!ref.compare_exchange_weak(old, f(old))) {
  }
  return old;
}

}  // namespace ae::sim::detail

// ---- built-in variables (read-only views of the scheduler's per-fiber state) ----
#define threadIdx (static_cast<const uint3&>(::ae::sim::detail::t_builtins.thread_idx))
#define blockIdx (static_cast<const uint3&>(::ae::sim::detail::t_builtins.block_idx))
#define blockDim (static_cast<const dim3&>(::ae::sim::detail::t_builtins.block_dim))
#define gridDim (static_cast<const dim3&>(::ae::sim::detail::t_builtins.grid_dim))
#define warpSize (::ae::sim::detail::k_warp_size)

// ---- barriers ----
inline void __syncthreads(std::source_location where = std::source_location::current()) {
  ::ae::sim::detail::block_barrier(::ae::sim::detail::BarrierKind::plain, 0, where);
}
inline int __syncthreads_count(int predicate, std::source_location where = std::source_location::current()) {
  return ::ae::sim::detail::block_barrier(::ae::sim::detail::BarrierKind::count, predicate, where);
}
inline int __syncthreads_and(int predicate, std::source_location where = std::source_location::current()) {
  return ::ae::sim::detail::block_barrier(::ae::sim::detail::BarrierKind::all, predicate, where);
}
inline int __syncthreads_or(int predicate, std::source_location where = std::source_location::current()) {
  return ::ae::sim::detail::block_barrier(::ae::sim::detail::BarrierKind::any, predicate, where);
}
inline void __syncwarp(unsigned mask = 0xffffffffu, std::source_location where = std::source_location::current()) {
  ::ae::sim::detail::vote(::ae::sim::detail::complete_syncwarp, "__syncwarp", mask, 0, where);
}
// Memory fences: every sim thread of a block shares one OS thread, blocks are OS threads.
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_signal_fence(std::memory_order_seq_cst); }
inline void __threadfence_system() { std::atomic_thread_fence(std::memory_order_seq_cst); }

// ---- warp shuffles and votes (mask semantics as on sm_70+: every lane in mask must call) ----
template <typename T>
T __shfl_sync(unsigned mask, T var, int src_lane, int width = 32,
              std::source_location where = std::source_location::current()) {
  return ::ae::sim::detail::shuffle(::ae::sim::detail::complete_shfl_idx, "__shfl_sync", mask, var, src_lane, width, where);
}
template <typename T>
T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = 32,
                 std::source_location where = std::source_location::current()) {
  return ::ae::sim::detail::shuffle(::ae::sim::detail::complete_shfl_up, "__shfl_up_sync", mask, var, int(delta), width, where);
}
template <typename T>
T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = 32,
                   std::source_location where = std::source_location::current()) {
  return ::ae::sim::detail::shuffle(::ae::sim::detail::complete_shfl_down, "__shfl_down_sync", mask, var, int(delta), width, where);
}
template <typename T>
T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = 32,
                  std::source_location where = std::source_location::current()) {
  return ::ae::sim::detail::shuffle(::ae::sim::detail::complete_shfl_xor, "__shfl_xor_sync", mask, var, lane_mask, width, where);
}
inline unsigned __ballot_sync(unsigned mask, int pred, std::source_location where = std::source_location::current()) {
  return ::ae::sim::detail::vote(::ae::sim::detail::complete_ballot, "__ballot_sync", mask, pred, where);
}
inline int __all_sync(unsigned mask, int pred, std::source_location where = std::source_location::current()) {
  return int(::ae::sim::detail::vote(::ae::sim::detail::complete_all, "__all_sync", mask, pred, where));
}
inline int __any_sync(unsigned mask, int pred, std::source_location where = std::source_location::current()) {
  return int(::ae::sim::detail::vote(::ae::sim::detail::complete_any, "__any_sync", mask, pred, where));
}
// No lanes are ever converged in the sim: the active mask is every lane that has not exited, so code
// that assumes divergent lanes drop out of __activemask() fails loudly at its next collective.
inline unsigned __activemask() { return ::ae::sim::detail::live_lanes(); }

// ---- atomics: the overload set CUDA defines, no more (the nvcc build must accept the same code) ----
#define AE_SIM_ATOMIC_FETCH(NAME, T, OP) \
  inline T NAME(T* address, T val) { return std::atomic_ref<T>(*address).OP(val); }
AE_SIM_ATOMIC_FETCH(atomicAdd, int, fetch_add)
AE_SIM_ATOMIC_FETCH(atomicAdd, unsigned, fetch_add)
AE_SIM_ATOMIC_FETCH(atomicAdd, unsigned long long, fetch_add)
AE_SIM_ATOMIC_FETCH(atomicAdd, float, fetch_add)
AE_SIM_ATOMIC_FETCH(atomicAdd, double, fetch_add)
AE_SIM_ATOMIC_FETCH(atomicSub, int, fetch_sub)
AE_SIM_ATOMIC_FETCH(atomicSub, unsigned, fetch_sub)
AE_SIM_ATOMIC_FETCH(atomicExch, int, exchange)
AE_SIM_ATOMIC_FETCH(atomicExch, unsigned, exchange)
AE_SIM_ATOMIC_FETCH(atomicExch, unsigned long long, exchange)
AE_SIM_ATOMIC_FETCH(atomicExch, float, exchange)
AE_SIM_ATOMIC_FETCH(atomicAnd, int, fetch_and)
AE_SIM_ATOMIC_FETCH(atomicAnd, unsigned, fetch_and)
AE_SIM_ATOMIC_FETCH(atomicAnd, unsigned long long, fetch_and)
AE_SIM_ATOMIC_FETCH(atomicOr, int, fetch_or)
AE_SIM_ATOMIC_FETCH(atomicOr, unsigned, fetch_or)
AE_SIM_ATOMIC_FETCH(atomicOr, unsigned long long, fetch_or)
AE_SIM_ATOMIC_FETCH(atomicXor, int, fetch_xor)
AE_SIM_ATOMIC_FETCH(atomicXor, unsigned, fetch_xor)
AE_SIM_ATOMIC_FETCH(atomicXor, unsigned long long, fetch_xor)
#undef AE_SIM_ATOMIC_FETCH
#define AE_SIM_ATOMIC_MINMAX(T)                                                                  \
  inline T atomicMin(T* a, T v) { return ::ae::sim::detail::atomic_update(a, [v](T o) { return v < o ? v : o; }); } \
  inline T atomicMax(T* a, T v) { return ::ae::sim::detail::atomic_update(a, [v](T o) { return v > o ? v : o; }); }
AE_SIM_ATOMIC_MINMAX(int)
AE_SIM_ATOMIC_MINMAX(unsigned)
AE_SIM_ATOMIC_MINMAX(long long)
AE_SIM_ATOMIC_MINMAX(unsigned long long)
#undef AE_SIM_ATOMIC_MINMAX
inline unsigned atomicInc(unsigned* a, unsigned limit) {
  return ::ae::sim::detail::atomic_update(a, [limit](unsigned o) { return o >= limit ? 0u : o + 1; });
}
inline unsigned atomicDec(unsigned* a, unsigned limit) {
  return ::ae::sim::detail::atomic_update(a, [limit](unsigned o) { return (o == 0 || o > limit) ? limit : o - 1; });
}
template <typename T>
T ae_sim_atomic_cas(T* a, T compare, T val) {
  std::atomic_ref<T>(*a).compare_exchange_strong(compare, val);
  return compare;  // the old value either way
}
inline int atomicCAS(int* a, int c, int v) { return ae_sim_atomic_cas(a, c, v); }
inline unsigned atomicCAS(unsigned* a, unsigned c, unsigned v) { return ae_sim_atomic_cas(a, c, v); }
inline unsigned long long atomicCAS(unsigned long long* a, unsigned long long c, unsigned long long v) {
  return ae_sim_atomic_cas(a, c, v);
}
inline unsigned short atomicCAS(unsigned short* a, unsigned short c, unsigned short v) { return ae_sim_atomic_cas(a, c, v); }

// ---- loads, bit casts, integer intrinsics ----
template <typename T>
T __ldg(const T* p) { return *p; }
template <typename T>
T __ldcg(const T* p) { return *p; }
template <typename T>
T __ldcs(const T* p) { return *p; }
template <typename T>
void __stcg(T* p, T v) { *p = v; }
template <typename T>
void __stcs(T* p, T v) { *p = v; }
inline int __float_as_int(float x) { return std::bit_cast<int>(x); }
inline unsigned __float_as_uint(float x) { return std::bit_cast<unsigned>(x); }
inline float __int_as_float(int x) { return std::bit_cast<float>(x); }
inline float __uint_as_float(unsigned x) { return std::bit_cast<float>(x); }
inline long long __double_as_longlong(double x) { return std::bit_cast<long long>(x); }
inline double __longlong_as_double(long long x) { return std::bit_cast<double>(x); }
inline int __popc(unsigned x) { return std::popcount(x); }
inline int __popcll(unsigned long long x) { return std::popcount(x); }
inline int __clz(int x) { return std::countl_zero(unsigned(x)); }
inline int __clzll(long long x) { return std::countl_zero((unsigned long long)x); }
inline int __ffs(int x) { return x == 0 ? 0 : std::countr_zero(unsigned(x)) + 1; }
inline int __ffsll(long long x) { return x == 0 ? 0 : std::countr_zero((unsigned long long)x) + 1; }
inline unsigned __brev(unsigned x) {
  unsigned r = 0;
  for (int i = 0; i < 32; ++i) r |= ((x >> i) & 1u) << (31 - i);
  return r;
}
inline int __mul24(int a, int b) { return int(((long long)(a << 8 >> 8)) * (b << 8 >> 8)); }
inline unsigned __umul24(unsigned a, unsigned b) { return (a & 0xffffffu) * (b & 0xffffffu); }
inline int __mulhi(int a, int b) { return int(((long long)a * b) >> 32); }
inline unsigned __umulhi(unsigned a, unsigned b) { return unsigned(((unsigned long long)a * b) >> 32); }
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
  return (unsigned long long)(((unsigned __int128)a * b) >> 64);
}
inline void __nanosleep(unsigned) {}
[[noreturn]] inline void __trap() { ::ae::sim::detail::trap("__trap() called"); }

// ---- math: fast-math intrinsics map to the accurate libm versions (a superset of their accuracy) ----
inline float __expf(float x) { return std::exp(x); }
inline float __exp10f(float x) { return std::pow(10.0f, x); }
inline float __logf(float x) { return std::log(x); }
inline float __log2f(float x) { return std::log2(x); }
inline float __log10f(float x) { return std::log10(x); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __tanf(float x) { return std::tan(x); }
inline void __sincosf(float x, float* s, float* c) { *s = std::sin(x); *c = std::cos(x); }
inline float __powf(float x, float y) { return std::pow(x, y); }
inline float __fdividef(float x, float y) { return x / y; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return std::sqrt(x); }
inline float __frsqrt_rn(float x) { return 1.0f / std::sqrt(x); }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float exp10f(float x) { return std::pow(10.0f, x); }
inline float __saturatef(float x) { return x > 0.0f ? (x < 1.0f ? x : 1.0f) : 0.0f; }  // NaN -> 0
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline double __fma_rn(double a, double b, double c) { return std::fma(a, b, c); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline int __float2int_rn(float x) { return int(std::nearbyint(x)); }
inline int __float2int_rz(float x) { return int(x); }
inline int __float2int_rd(float x) { return int(std::floor(x)); }
inline int __float2int_ru(float x) { return int(std::ceil(x)); }
inline unsigned __float2uint_rn(float x) { return unsigned(std::nearbyint(x)); }
inline float __int2float_rn(int x) { return float(x); }
inline float __uint2float_rn(unsigned x) { return float(x); }

// CUDA's device code has min/max overloads in the global namespace.
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline unsigned long long min(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
inline unsigned long long max(unsigned long long a, unsigned long long b) { return a > b ? a : b; }
inline float min(float a, float b) { return std::fmin(a, b); }
inline float max(float a, float b) { return std::fmax(a, b); }
inline double min(double a, double b) { return std::fmin(a, b); }
inline double max(double a, double b) { return std::fmax(a, b); }
inline unsigned min(int a, unsigned b) { return min(unsigned(a), b); }
inline unsigned min(unsigned a, int b) { return min(a, unsigned(b)); }
inline unsigned max(int a, unsigned b) { return max(unsigned(a), b); }
inline unsigned max(unsigned a, int b) { return max(a, unsigned(b)); }
