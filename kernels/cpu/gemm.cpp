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
//  - mixed precision (gemm_bf16): the same cached matmul primitives with bf16 A and B, fp32
//    accumulation, an fp32 or bf16 C, bias, accumulation (sum post-op) and an exact activation
//    (eltwise post-op) in the epilogue, plain layouts with a transposed operand read through the
//    ba tag (bench/gemm/README.md, "bf16 on the CPU": pre-packing the weights costs more per step
//    than it saves). They run as brg:avx512_core_bf16 on AVX512_BF16, 2× fp32's rate per core.
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
#include <utility>
#include <vector>

#include "kernels/common/activation.h"
#include "kernels/common/error.h"
#include "kernels/cpu/onednn_util.h"

namespace ae::cpu {
namespace {

thread_local int t_threads = 0;  // 0: not set on this thread, use its OpenMP setting

using onednn::OmpThreadsScope;
using onednn::thread_scratch;
using onednn::user_scratchpad;

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

bool has_isa(dnnl_cpu_isa_t isa, dnnl_cpu_isa_t f) { return (unsigned(isa) & unsigned(f)) == unsigned(f); }

const char* sgemm_kernels(dnnl_cpu_isa_t isa) {
  // dnnl_cpu_isa_t values are feature bitmasks: a CPU with avx512_core_amx also has every bit of
  // avx512_core. fp32 sgemm's JIT kernels come in these four families.
  auto has = [isa](dnnl_cpu_isa_t f) { return has_isa(isa, f); };
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

// One oneDNN matmul C[M,N] (+)= op(A)·op(B) (+ bias) (then an eltwise post-op), all operands
// tightly packed. A transposed operand is the same memory viewed with the other tag (ba), which
// the brgemm kernels read directly: no transpose copy on ae's side. The fp32 forward product
// (gemm_nt_bias) is {f32, !trans_a, trans_b, bias}; the bf16 GEMMs of mixed precision vary the
// rest. A primitive's blocking is chosen for its thread count at creation, hence the key.
struct MatmulKey {
  int64_t M, N, K;
  dnnl::memory::data_type a_type, b_type, c_type;
  bool trans_a, trans_b;  // A stored [K,M], B stored [N,K]
  bool bias;              // fp32 [N], added before the post-ops
  bool accumulate;        // a sum post-op: C += the product
  dnnl::algorithm eltwise;  // dnnl::algorithm::undef: none
  float eltwise_alpha;
  int threads;
  auto tie() const {
    return std::tie(M, N, K, a_type, b_type, c_type, trans_a, trans_b, bias, accumulate, eltwise, eltwise_alpha,
                    threads);
  }
  bool operator<(const MatmulKey& o) const { return tie() < o.tie(); }
};

// Matmul primitives cached for the process, one per MatmulKey; shapes come from a few plans.
class MatmulCache {
 public:
  struct Entry {
    dnnl::memory::desc a, b, bias, c, scratch;
    dnnl::matmul prim;
  };

  static MatmulCache& get() {
    static MatmulCache cache;
    return cache;
  }
  const dnnl::engine& engine() const { return m_engine; }

  std::shared_ptr<const Entry> find(const MatmulKey& key) {
    std::lock_guard<std::mutex> lock(m_mutex);
    auto it = m_entries.find(key);
    if (it != m_entries.end()) return it->second;
    if (m_entries.size() >= MAX_ENTRIES) m_entries.clear();  // a few plans' shapes; never grows
    using tag = dnnl::memory::format_tag;
    auto e = std::make_shared<Entry>();
    e->a = dnnl::memory::desc({key.M, key.K}, key.a_type, key.trans_a ? tag::ba : tag::ab);
    e->b = dnnl::memory::desc({key.K, key.N}, key.b_type, key.trans_b ? tag::ba : tag::ab);
    e->bias = dnnl::memory::desc({1, key.N}, dnnl::memory::data_type::f32, tag::ab);
    e->c = dnnl::memory::desc({key.M, key.N}, key.c_type, tag::ab);
    dnnl::primitive_attr attr = user_scratchpad();
    if (key.accumulate || key.eltwise != dnnl::algorithm::undef) {
      dnnl::post_ops ops;
      if (key.accumulate) ops.append_sum(1.f);
      if (key.eltwise != dnnl::algorithm::undef) ops.append_eltwise(1.f, key.eltwise, key.eltwise_alpha, 0.f);
      attr.set_post_ops(ops);
    }
    auto desc = key.bias ? dnnl::matmul::desc(e->a, e->b, e->bias, e->c) : dnnl::matmul::desc(e->a, e->b, e->c);
    dnnl::matmul::primitive_desc pd(desc, attr, m_engine);
    e->scratch = pd.scratchpad_desc();
    e->prim = dnnl::matmul(pd);
    m_entries.emplace(key, e);
    return e;
  }

 private:
  static constexpr size_t MAX_ENTRIES = 64;
  dnnl::engine m_engine{dnnl::engine::kind::cpu, 0};
  std::mutex m_mutex;
  std::map<MatmulKey, std::shared_ptr<const Entry>> m_entries;
};

// Runs the cached primitive for `key` (its threads field is set here) on the calling thread's
// scratchpad. oneDNN's memory objects do not write through the const inputs; the casts only
// satisfy its non-const handle type.
void run_matmul(MatmulKey key, const void* a, const void* b, const float* bias, void* c) {
  // Inside an OpenMP parallel region oneDNN runs on the calling thread alone.
  key.threads = omp_in_parallel() ? 1 : gemm_threads();
  OmpThreadsScope scope(key.threads);
  MatmulCache& cache = MatmulCache::get();
  auto e = cache.find(key);
  const dnnl::engine& eng = cache.engine();
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, dnnl::memory(e->a, eng, const_cast<void*>(a))},
                                             {DNNL_ARG_WEIGHTS, dnnl::memory(e->b, eng, const_cast<void*>(b))},
                                             {DNNL_ARG_DST, dnnl::memory(e->c, eng, c)}};
  if (key.bias) args.emplace(DNNL_ARG_BIAS, dnnl::memory(e->bias, eng, const_cast<float*>(bias)));
  if (const size_t bytes = e->scratch.get_size(); bytes > 0)
    args.emplace(DNNL_ARG_SCRATCHPAD, dnnl::memory(e->scratch, eng, thread_scratch(bytes)));
  dnnl::stream stream(eng);
  e->prim.execute(stream, args);
  stream.wait();
}

void matmul_nt_bias(int64_t M, int64_t N, int64_t K, const float* x, const float* w, const float* b,
                    float* y) {
  using dt = dnnl::memory::data_type;
  run_matmul(MatmulKey{M, N, K, dt::f32, dt::f32, dt::f32, false, true, b != nullptr, false, dnnl::algorithm::undef,
                       0.f, 0},
             x, w, b, y);
}

// The oneDNN eltwise post-op computing act exactly as kernels/common/activation.h defines it, if
// there is one (alg undef otherwise). relu is max(z, 0) in both (+0 for z ≤ 0, NaN → 0 as
// activation.h's z > 0 test gives); leaky_relu multiplies by the same float slope; logistic and
// tanh are the same functions, evaluated by oneDNN's own approximations (within a few fp32 ulp,
// far below bf16's rounding). elu, selu, softplus and gelu are left to ae's loops: oneDNN computes
// elu as exp − 1 (cancellation near 0, where ae takes expm1), has no selu, and its soft_relu lacks
// softplus's threshold.
std::pair<dnnl::algorithm, float> eltwise_for(Act act) {
  switch (act) {
    case Act::relu: return {dnnl::algorithm::eltwise_relu, 0.f};
    case Act::leaky_relu: return {dnnl::algorithm::eltwise_relu, float(LEAKY_RELU_SLOPE)};
    case Act::sigmoid: return {dnnl::algorithm::eltwise_logistic, 0.f};
    case Act::tanh: return {dnnl::algorithm::eltwise_tanh, 0.f};
    default: return {dnnl::algorithm::undef, 0.f};
  }
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

bool gemm_bf16_fuses(Act act) { return eltwise_for(act).first != dnnl::algorithm::undef; }

void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const bfloat16* A, const bfloat16* B,
               const float* bias, Act act, bool accumulate, void* C, DType c_type) {
  AE_CHECK(M >= 0 && N >= 0 && K >= 0, "gemm_bf16: negative size M=", M, " N=", N, " K=", K);
  AE_CHECK(c_type == DType::f32 || c_type == DType::bf16, "gemm_bf16: C must be f32 or bf16, not ",
           dtype_name(c_type));
  AE_CHECK(act == Act::linear || gemm_bf16_fuses(act), "gemm_bf16: activation ", act_name(act),
           " has no exact oneDNN post-op (gemm_bf16_fuses)");
  if (M == 0 || N == 0) return;
  AE_CHECK(C != nullptr && A != nullptr && B != nullptr && K > 0, "gemm_bf16: C, A or B is null, or K=", K,
           " (an empty product is the caller's)");
  using dt = dnnl::memory::data_type;
  const auto [alg, alpha] = eltwise_for(act);
  const MatmulKey key{M, N, K, dt::bf16, dt::bf16, c_type == DType::f32 ? dt::f32 : dt::bf16, trans_a, trans_b,
                      bias != nullptr, accumulate, alg, alpha, 0};
  try {
    run_matmul(key, A, B, bias, C);
  } catch (const dnnl::error& e) {
    AE_FAIL("gemm_bf16: oneDNN bf16 matmul failed (", e.what(), ", status ", int(e.status), ") for M=", M, " N=", N,
            " K=", K, "; ", bf16_gemm_support());
  }
}

bool bf16_gemm_native() { return has_isa(dnnl_get_effective_cpu_isa(), dnnl_cpu_isa_avx512_core_bf16); }

std::string bf16_gemm_support() {
  const char* isa = isa_name(dnnl_get_effective_cpu_isa());
  if (bf16_gemm_native()) return detail::concat("bf16 GEMMs run natively (oneDNN ISA ", isa, ")");
  return detail::concat("bf16 needs AVX512_BF16 or AMX (oneDNN would emulate it about 2.8x slower than fp32); this CPU's "
                        "oneDNN ISA is ", isa, "; use fp32");
}

std::string gemm_library() {
  const dnnl_version_t* v = dnnl_version();
  const dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
  return detail::concat("oneDNN ", v->major, ".", v->minor, ".", v->patch, " sgemm + matmul for x·Wᵀ+b (",
                        sgemm_kernels(isa), " kernels, CPU max ISA ", isa_name(isa),
                        "), OpenMP, ", gemm_threads(), gemm_threads() == 1 ? " thread" : " threads");
}

}  // namespace ae::cpu
