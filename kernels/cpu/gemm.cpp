// ae::cpu::gemm on oneDNN's dnnl_sgemm (fp32) and a plain loop (fp64). Why oneDNN, with the
// figures, is in bench/gemm/README.md. What matters here for the whole process:
//  - kernel choice: oneDNN JIT-generates its sgemm kernels for the best ISA the cpuid feature bits
//    allow (avx512_core, avx2, avx, sse41). No CPU-model table, no environment variable, so a CPU
//    newer than the library still gets AVX-512 kernels (unlike OpenBLAS 0.3.21's model table).
//  - threads: Debian's oneDNN runs on GNU OpenMP, the runtime ae's own loops use. A GEMM uses
//    omp_get_max_threads() of the calling thread, so we set that ICV around each call; there is
//    no second thread pool to fight OpenMP's spinning workers for the cores. The GEMM thread
//    count is a per-thread setting, so two application threads (two models) never change each
//    other's count, and with it each other's bits.
//  - concurrency: the matmul primitives run with a user scratchpad. oneDNN's own (library mode,
//    Debian builds it without DNNL_ENABLE_CONCURRENT_EXEC) is a per-thread buffer sized when a
//    primitive is created, and its primitives "cannot migrate between threads" (dnnl_types.h):
//    the process-wide matmul cache, or a model created on one thread and run on another, breaks
//    that rule (no failure was seen with 2.6.3, but the rule is the documented contract). With a
//    user scratchpad any thread may run any primitive, several threads at once.
//  - determinism: oneDNN partitions a GEMM by shape and thread count only and reduces in a fixed
//    order, so equal inputs give equal bits for a given thread count (tests/kernels/gemm_test.cpp).
//  - the dense forward product x·Wᵀ + b (gemm_nt_bias) runs as a cached oneDNN matmul primitive
//    with the bias in its epilogue: on the forward's NT shapes its brgemm kernels beat sgemm by
//    10–15% on 2 threads (456 vs 536 µs for 256×256×784 on an EPYC Zen 4), while for the
//    backward's TN/NN products the two are even, so those stay on sgemm.
#include "kernels/cpu/gemm.h"

#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <new>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <unordered_map>
#include <type_traits>
#include <vector>

#include "kernels/common/error.h"

namespace ae::cpu {
namespace {

thread_local int t_threads = 0;  // 0: not set on this thread, use its OpenMP setting

// A per-thread scratchpad for the shared, cached primitives: grows to the largest a thread has
// needed, 4 KiB aligned (oneDNN's own alignment for scratchpads).
std::byte* thread_scratch(size_t bytes) {
  struct Buffer {
    std::byte* p = nullptr;
    size_t size = 0;
    ~Buffer() { std::free(p); }
  };
  thread_local Buffer buf;
  if (bytes > buf.size) {
    const size_t size = (bytes + 4095) / 4096 * 4096;
    auto* p = static_cast<std::byte*>(std::aligned_alloc(4096, size));
    if (!p) throw std::bad_alloc();
    std::free(buf.p);
    buf.p = p;
    buf.size = size;
  }
  return buf.p;
}

dnnl::primitive_attr user_scratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

// Gives the calling thread's next OpenMP parallel regions (those oneDNN opens) `threads` threads
// for the lifetime of the scope, then restores what the caller had, so ae's elementwise loops keep
// their own setting.
class OmpThreadsScope {
 public:
  explicit OmpThreadsScope(int threads) : m_saved(omp_get_max_threads()) {
    if (m_saved != threads) omp_set_num_threads(threads);
  }
  ~OmpThreadsScope() {
    if (omp_get_max_threads() != m_saved) omp_set_num_threads(m_saved);
  }
  OmpThreadsScope(const OmpThreadsScope&) = delete;
  OmpThreadsScope& operator=(const OmpThreadsScope&) = delete;

 private:
  int m_saved;
};

void check_args(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const void* A,
                int64_t lda, const void* B, int64_t ldb, const void* C, int64_t ldc) {
  AE_CHECK(M >= 0 && N >= 0 && K >= 0, "gemm: negative size M=", M, " N=", N, " K=", K);
  const int64_t a_width = trans_a ? M : K, b_width = trans_b ? K : N;
  AE_CHECK(lda >= std::max<int64_t>(1, a_width), "gemm: lda=", lda, " is less than the row width ",
           a_width, " of A (", trans_a ? "[K,M]" : "[M,K]", ")");
  AE_CHECK(ldb >= std::max<int64_t>(1, b_width), "gemm: ldb=", ldb, " is less than the row width ",
           b_width, " of B (", trans_b ? "[N,K]" : "[K,N]", ")");
  AE_CHECK(ldc >= std::max<int64_t>(1, N), "gemm: ldc=", ldc, " is less than N=", N);
  if (M > 0 && N > 0) AE_CHECK(C != nullptr, "gemm: C is null for a ", M, "x", N, " product");
  if (M > 0 && N > 0 && K > 0) AE_CHECK(A && B, "gemm: A or B is null with K=", K);
}

// C = beta · C (beta == 0 writes zeros without reading C): the whole GEMM when K or alpha is 0.
template <typename T>
void scale_c(int64_t M, int64_t N, T beta, T* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    T* c = C + i * ldc;  // [N]
    if (beta == T(0)) std::fill(c, c + N, T(0));
    else if (beta != T(1)) for (int64_t j = 0; j < N; ++j) c[j] *= beta;
  }
}

// fp64: each C row is an independent dot-product loop with a fixed k order, so the result does not
// depend on the thread count at all. Speed is irrelevant (gradient checks on small models).
void gemm_reference(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha,
                    const double* A, int64_t lda, const double* B, int64_t ldb, double beta,
                    double* C, int64_t ldc) {
  const bool big = M * N * K > (int64_t(1) << 18);
#pragma omp parallel num_threads(gemm_threads()) if (big)
  {
    std::vector<double> acc(static_cast<size_t>(N));  // Σ_k op(A)[i,k]·op(B)[k,j] for the current row i
#pragma omp for schedule(static)
    for (int64_t i = 0; i < M; ++i) {
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t k = 0; k < K; ++k) {
        const double a = trans_a ? A[k * lda + i] : A[i * lda + k];
        if (trans_b)
          for (int64_t j = 0; j < N; ++j) acc[j] += a * B[j * ldb + k];
        else
          for (int64_t j = 0; j < N; ++j) acc[j] += a * B[k * ldb + j];
      }
      double* c = C + i * ldc;  // [N]
      for (int64_t j = 0; j < N; ++j)
        c[j] = alpha * acc[j] + (beta == 0.0 ? 0.0 : beta * c[j]);
    }
  }
}

const char* sgemm_kernels(dnnl_cpu_isa_t isa) {
  // dnnl_cpu_isa_t values are feature bitmasks: a CPU with avx512_core_amx also has every bit of
  // avx512_core. fp32 sgemm's JIT kernels come in these four families.
  auto has = [isa](dnnl_cpu_isa_t f) { return (unsigned(isa) & unsigned(f)) == unsigned(f); };
  if (has(dnnl_cpu_isa_avx512_core)) return "avx512_core";
  if (has(dnnl_cpu_isa_avx2)) return "avx2";
  if (has(dnnl_cpu_isa_avx)) return "avx";
  if (has(dnnl_cpu_isa_sse41)) return "sse41";
  return "reference";
}

const char* isa_name(dnnl_cpu_isa_t isa) {
  switch (isa) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "unknown";
  }
}

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc) {
  OmpThreadsScope threads(gemm_threads());
  // dnnl_sgemm is row-major, with the BLAS meaning of every argument.
  const dnnl_status_t st = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha, A,
                                      lda, B, ldb, beta, C, ldc);
  AE_CHECK(st == dnnl_success, "gemm: oneDNN sgemm failed with status ", int(st), " (M=", M,
           " N=", N, " K=", K, ")");
}

// The forward product as a oneDNN matmul: src x [M,K] (ab), weights Wᵀ [K,N] read from W [N,K]
// (format ba), bias [1,N], dst [M,N]. One primitive per shape, bias presence and thread count —
// its blocking is chosen for the thread count at creation — cached for the process.
class MatmulCache {
 public:
  using Key = std::tuple<int64_t, int64_t, int64_t, bool, int>;
  struct Entry {
    dnnl::memory::desc x, w, b, y, scratch;
    dnnl::matmul prim;
  };

  static MatmulCache& get() {
    static MatmulCache cache;
    return cache;
  }
  const dnnl::engine& engine() const { return m_engine; }

  std::shared_ptr<const Entry> find(int64_t M, int64_t N, int64_t K, bool bias, int threads) {
    const Key key{M, N, K, bias, threads};
    std::lock_guard<std::mutex> lock(m_mutex);
    auto it = m_entries.find(key);
    if (it != m_entries.end()) return it->second;
    if (m_entries.size() >= MAX_ENTRIES) m_entries.clear();  // shapes come from a few plans; never grows
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    auto e = std::make_shared<Entry>();
    e->x = dnnl::memory::desc({M, K}, dt::f32, tag::ab);
    e->w = dnnl::memory::desc({K, N}, dt::f32, tag::ba);
    e->b = dnnl::memory::desc({1, N}, dt::f32, tag::ab);
    e->y = dnnl::memory::desc({M, N}, dt::f32, tag::ab);
    auto desc = bias ? dnnl::matmul::desc(e->x, e->w, e->b, e->y) : dnnl::matmul::desc(e->x, e->w, e->y);
    dnnl::matmul::primitive_desc pd(desc, user_scratchpad(), m_engine);
    e->scratch = pd.scratchpad_desc();
    e->prim = dnnl::matmul(pd);
    m_entries.emplace(key, e);
    return e;
  }

 private:
  static constexpr size_t MAX_ENTRIES = 64;
  dnnl::engine m_engine{dnnl::engine::kind::cpu, 0};
  std::mutex m_mutex;
  std::map<Key, std::shared_ptr<const Entry>> m_entries;
};

void matmul_nt_bias(int64_t M, int64_t N, int64_t K, const float* x, const float* w, const float* b,
                    float* y) {
  // Inside an OpenMP parallel region oneDNN runs on the calling thread alone.
  const int threads = omp_in_parallel() ? 1 : gemm_threads();
  OmpThreadsScope scope(threads);
  MatmulCache& cache = MatmulCache::get();
  auto e = cache.find(M, N, K, b != nullptr, threads);
  // oneDNN's memory objects do not write through const pointers to inputs; the casts only
  // satisfy its non-const handle type.
  dnnl::memory xm(e->x, cache.engine(), const_cast<float*>(x));
  dnnl::memory wm(e->w, cache.engine(), const_cast<float*>(w));
  dnnl::memory ym(e->y, cache.engine(), y);
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, ym}};
  if (b) args.emplace(DNNL_ARG_BIAS, dnnl::memory(e->b, cache.engine(), const_cast<float*>(b)));
  if (const size_t bytes = e->scratch.get_size(); bytes > 0)
    args.emplace(DNNL_ARG_SCRATCHPAD, dnnl::memory(e->scratch, cache.engine(), thread_scratch(bytes)));
  dnnl::stream stream(cache.engine());
  e->prim.execute(stream, args);
  stream.wait();
}

}  // namespace

struct PackedNtBias::Impl {
  struct Prim {
    int64_t M;
    int threads;
    bool bias;
    dnnl::matmul prim;
    size_t pack;                // which entry of `packs` holds W in the layout it reads
    dnnl::memory x, b, y;       // handles set per call
    dnnl::memory scratch;       // its own scratchpad: calls on one PackedNtBias never overlap
    std::unordered_map<int, dnnl::memory> args;  // built once: a call only swaps handles
  };
  struct Pack {
    dnnl::memory w;             // W in one layout
    bool current = false;
  };
  int64_t N, K;
  dnnl::stream stream{MatmulCache::get().engine()};
  std::vector<Pack> packs;      // one per weight layout the primitives chose (usually one)
  std::vector<Prim> prims;      // a few: the plan's batch and its tail, per thread count
  int64_t packed = 0;

  Prim& prim(int64_t M, int threads, bool bias) {
    for (Prim& p : prims)
      if (p.M == M && p.threads == threads && p.bias == bias) return p;
    if (prims.size() >= 8) prims.clear();
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    const dnnl::engine& eng = MatmulCache::get().engine();
    dnnl::memory::desc x({M, K}, dt::f32, tag::ab), w({K, N}, dt::f32, tag::any), b({1, N}, dt::f32, tag::ab),
        y({M, N}, dt::f32, tag::ab);
    auto pd = dnnl::matmul::primitive_desc(bias ? dnnl::matmul::desc(x, w, b, y) : dnnl::matmul::desc(x, w, y),
                                           user_scratchpad(), eng);
    size_t pack = 0;
    while (pack < packs.size() && packs[pack].w.get_desc() != pd.weights_desc()) ++pack;
    if (pack == packs.size()) packs.push_back(Pack{dnnl::memory(pd.weights_desc(), eng), false});
    prims.push_back(Prim{M, threads, bias, dnnl::matmul(pd), pack, dnnl::memory(x, eng, nullptr),
                         dnnl::memory(b, eng, nullptr), dnnl::memory(y, eng, nullptr),
                         pd.scratchpad_desc().get_size() > 0 ? dnnl::memory(pd.scratchpad_desc(), eng) : dnnl::memory(), {}});
    Prim& p = prims.back();
    p.args = {{DNNL_ARG_SRC, p.x}, {DNNL_ARG_DST, p.y}, {DNNL_ARG_WEIGHTS, packs[pack].w}};
    if (bias) p.args.emplace(DNNL_ARG_BIAS, p.b);
    if (pd.scratchpad_desc().get_size() > 0) p.args.emplace(DNNL_ARG_SCRATCHPAD, p.scratch);
    return p;
  }

  void pack(Pack& into, const float* w) {
    const dnnl::engine& eng = MatmulCache::get().engine();
    dnnl::memory src(dnnl::memory::desc({K, N}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::ba), eng,
                     const_cast<float*>(w));  // W [N,K] read as Wᵀ [K,N]; reorder only reads it
    dnnl::reorder(src, into.w).execute(stream, src, into.w);
    stream.wait();
    into.current = true;
    ++packed;
  }
};

PackedNtBias::PackedNtBias(int64_t N, int64_t K) : m(std::make_unique<Impl>()) {
  AE_CHECK(N >= 1 && K >= 1, "PackedNtBias: N=", N, " and K=", K, " must be ≥ 1");
  m->N = N;
  m->K = K;
}
PackedNtBias::~PackedNtBias() = default;
void PackedNtBias::invalidate() {
  for (auto& p : m->packs) p.current = false;
}
int64_t PackedNtBias::packs() const { return m->packed; }

void PackedNtBias::run(int64_t M, const float* x, const float* w, const float* b, float* y) {
  AE_CHECK(M >= 0, "PackedNtBias: negative M=", M);
  if (M == 0) return;
  AE_CHECK(x && w && y, "PackedNtBias: x, w or y is null");
  const int threads = omp_in_parallel() ? 1 : gemm_threads();  // as matmul_nt_bias
  OmpThreadsScope scope(threads);
  try {
    Impl::Prim& p = m->prim(M, threads, b != nullptr);
    Impl::Pack& pack = m->packs[p.pack];
    if (!pack.current) m->pack(pack, w);
    // dnnl::memory is a shared handle: the copies in p.args see these pointers.
    p.x.set_data_handle(const_cast<float*>(x));
    p.y.set_data_handle(y);
    if (b) p.b.set_data_handle(const_cast<float*>(b));
    p.prim.execute(m->stream, p.args);
    m->stream.wait();
  } catch (const dnnl::error& e) {
    AE_FAIL("PackedNtBias: oneDNN matmul failed (", e.what(), ", status ", int(e.status), ") for M=", M, " N=", m->N,
            " K=", m->K);
  }
}

template <typename T>
void gemm_nt_bias(int64_t M, int64_t N, int64_t K, const T* x, const T* w, const T* b, T* y) {
  AE_CHECK(M >= 0 && N >= 0 && K >= 0, "gemm_nt_bias: negative size M=", M, " N=", N, " K=", K);
  if (M == 0 || N == 0) return;
  AE_CHECK(y != nullptr, "gemm_nt_bias: y is null for a ", M, "x", N, " product");
  AE_CHECK(K == 0 || (x && w), "gemm_nt_bias: x or w is null with K=", K);
  if constexpr (std::is_same_v<T, float>) {
    if (K > 0) {
      try {
        return matmul_nt_bias(M, N, K, x, w, b, y);
      } catch (const dnnl::error& e) {
        AE_FAIL("gemm_nt_bias: oneDNN matmul failed (", e.what(), ", status ", int(e.status), ") for M=", M,
                " N=", N, " K=", K);
      }
    }
  }
  gemm<T>(false, true, M, N, K, T(1), x, K, w, K, T(0), y, N);
  if (b)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) y[i * N + j] += b[j];
}

template void gemm_nt_bias<float>(int64_t, int64_t, int64_t, const float*, const float*, const float*, float*);
template void gemm_nt_bias<double>(int64_t, int64_t, int64_t, const double*, const double*, const double*,
                                   double*);

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  check_args(trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc);
  if (M == 0 || N == 0) return;
  if (K == 0 || alpha == T(0)) return scale_c(M, N, beta, C, ldc);
  if constexpr (std::is_same_v<T, float>)
    sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  else
    gemm_reference(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                          const float*, int64_t, float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                           const double*, int64_t, double, double*, int64_t);

int set_gemm_threads(int threads) {
  AE_CHECK(threads >= 0, "set_gemm_threads: threads=", threads, " must be at least 1 (0: unset)");
  const int previous = t_threads;
  t_threads = threads;
  return previous;
}

int gemm_threads() { return t_threads > 0 ? t_threads : std::max(1, omp_get_max_threads()); }

std::string gemm_library() {
  const dnnl_version_t* v = dnnl_version();
  const dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
  return detail::concat("oneDNN ", v->major, ".", v->minor, ".", v->patch, " sgemm + matmul for x·Wᵀ+b (",
                        sgemm_kernels(isa), " kernels, CPU max ISA ", isa_name(isa),
                        "), OpenMP, ", gemm_threads(), gemm_threads() == 1 ? " thread" : " threads");
}

}  // namespace ae::cpu
