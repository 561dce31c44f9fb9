// ae_bench_gemm: times single-precision GEMM with each candidate CPU library on the shapes of the
// dense autoencoder 784-256r-32-256r-784s at batch 256 (all four transpose combinations), 2048³ as
// a sanity figure, and the whole per-training-step GEMM workload, on 1 and 2 threads. This is the
// measurement behind the choice made in cmake/AeBlas.cmake and kernels/cpu/gemm.cpp.
//
// Each (candidate, threads) pair runs in its own child process (this executable re-executed with
// --candidate), so one library's environment variables, constructors and thread pools never
// affect another's figures. OpenBLAS and BLIS are dlopen'ed, which also lets the "forced"
// OpenBLAS candidate set OPENBLAS_CORETYPE before the library's load-time constructor runs.
#include <dlfcn.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#ifdef AE_BENCH_HAVE_BLIS
#include <blis.h>  // types only: libblis is dlopen'ed, never linked, so its BLAS symbols stay private
#endif
#include <oneapi/dnnl/dnnl.hpp>

#include "kernels/cpu/gemm.h"

namespace {

struct Shape {
  bool ta, tb;
  int64_t M, N, K;
  std::string role;  // where the model uses it, "" when only benchmarked for completeness
};

std::string shape_name(const Shape& s) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%c%c %lldx%lldx%lld", s.ta ? 'T' : 'N', s.tb ? 'T' : 'N',
                (long long)s.M, (long long)s.N, (long long)s.K);
  return buf;
}

// One GEMM call: C[M,N] = op(A)·op(B), row-major, tightly packed (lda = width of A as stored).
using Gemm = std::function<void(const Shape&, const float* A, const float* B, float* C)>;

struct Candidate {
  Gemm gemm;
  std::string info;  // which library build and which kernels it dispatched to
};

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Median over `samples` of the time of one call of `fn`; each sample repeats fn enough to last
// at least ~5 ms so that timer resolution and one-off hiccups do not dominate.
double median_seconds(const std::function<void()>& fn, int samples = 11) {
  for (int i = 0; i < 3; ++i) fn();  // warm-up: page faults, thread-pool start, JIT, packing
  double t0 = now_s();
  fn();
  double one = std::max(now_s() - t0, 1e-7);
  int reps = std::max(1, int(0.005 / one));
  std::vector<double> ts;
  for (int s = 0; s < samples; ++s) {
    t0 = now_s();
    for (int r = 0; r < reps; ++r) fn();
    ts.push_back((now_s() - t0) / reps);
  }
  std::sort(ts.begin(), ts.end());
  return ts[ts.size() / 2];
}

// OpenBLAS core type matching this CPU's features (cpuid, not model numbers), "" if none helps.
std::string feature_coretype() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
  return "";
}

void* must_dlopen(const char* name) {
  void* h = dlopen(name, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
  if (!h) {
    std::fprintf(stderr, "cannot load %s: %s\n", name, dlerror());
    std::exit(2);
  }
  return h;
}
template <typename F>
F must_dlsym(void* h, const char* name) {
  void* p = dlsym(h, name);
  if (!p) {
    std::fprintf(stderr, "missing symbol %s\n", name);
    std::exit(2);
  }
  return reinterpret_cast<F>(p);
}

Candidate make_openblas(bool forced, int threads) {
  std::string core;
  if (forced) {
    core = feature_coretype();
    if (!core.empty()) setenv("OPENBLAS_CORETYPE", core.c_str(), 1);
  }
  void* h = must_dlopen("libopenblas.so.0");
  using sgemm_t = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int,
                           float, float*, int);
  auto sgemm = must_dlsym<sgemm_t>(h, "cblas_sgemm");
  must_dlsym<void (*)(int)>(h, "openblas_set_num_threads")(threads);
  const char* corename = must_dlsym<char* (*)()>(h, "openblas_get_corename")();
  const char* config = must_dlsym<char* (*)()>(h, "openblas_get_config")();
  Candidate c;
  c.info = std::string(config) + "; running core " + corename +
           (forced ? " (OPENBLAS_CORETYPE=" + core + " set before dlopen)" : "");
  c.gemm = [sgemm](const Shape& s, const float* A, const float* B, float* C) {
    // CblasRowMajor = 101, CblasNoTrans = 111, CblasTrans = 112
    sgemm(101, s.ta ? 112 : 111, s.tb ? 112 : 111, int(s.M), int(s.N), int(s.K), 1.0f, A,
          int(s.ta ? s.M : s.K), B, int(s.tb ? s.K : s.N), 0.0f, C, int(s.N));
  };
  return c;
}

#ifdef AE_BENCH_HAVE_BLIS
Candidate make_blis(int threads) {
  void* h = must_dlopen("libblis.so.4");
  auto sgemm = must_dlsym<decltype(&bli_sgemm)>(h, "bli_sgemm");
  must_dlsym<decltype(&bli_thread_set_num_threads)>(h, "bli_thread_set_num_threads")(threads);
  auto query = must_dlsym<decltype(&bli_arch_query_id)>(h, "bli_arch_query_id");
  auto name = must_dlsym<decltype(&bli_arch_string)>(h, "bli_arch_string");
  auto version = must_dlsym<decltype(&bli_info_get_version_str)>(h, "bli_info_get_version_str");
  Candidate c;
  c.info = std::string("BLIS ") + version() + " (OpenMP), configuration " + name(query());
  c.gemm = [sgemm](const Shape& s, const float* A, const float* B, float* C) {
    float one = 1.0f, zero = 0.0f;
    // BLIS takes general strides: row-major op(X) is X with (row stride, col stride) = (ld, 1).
    inc_t lda = s.ta ? s.M : s.K, ldb = s.tb ? s.K : s.N;
    sgemm(s.ta ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, s.tb ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE,
          s.M, s.N, s.K, &one, const_cast<float*>(A), lda, 1, const_cast<float*>(B), ldb, 1, &zero,
          C, s.N, 1);
  };
  return c;
}
#endif

std::string dnnl_info() {
  const dnnl_version_t* v = dnnl_version();
  const char* isa = "?";
  switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_avx2: isa = "avx2"; break;
    case dnnl_cpu_isa_avx512_core: isa = "avx512_core"; break;
    case dnnl_cpu_isa_avx512_core_vnni: isa = "avx512_core_vnni"; break;
    case dnnl_cpu_isa_avx512_core_bf16: isa = "avx512_core_bf16"; break;
    case dnnl_cpu_isa_avx512_core_amx: isa = "avx512_core_amx"; break;
    default: break;
  }
  char buf[128];
  std::snprintf(buf, sizeof buf, "oneDNN %d.%d.%d (OpenMP), max ISA %s", v->major, v->minor,
                v->patch, isa);
  return buf;
}

Candidate make_dnnl_sgemm() {
  Candidate c;
  c.info = dnnl_info() + "; dnnl_sgemm";
  c.gemm = [](const Shape& s, const float* A, const float* B, float* C) {
    dnnl_sgemm(s.ta ? 'T' : 'N', s.tb ? 'T' : 'N', s.M, s.N, s.K, 1.0f, A, s.ta ? s.M : s.K, B,
               s.tb ? s.K : s.N, 0.0f, C, s.N);
  };
  return c;
}

// dnnl_sgemm on 1 thread per block of C: an OpenMP team splits C's larger dimension into equal
// parts (multiples of 16) and each thread runs a sequential dnnl_sgemm on its block (oneDNN runs
// single-threaded when called inside a parallel region). The partition depends only on the shape
// and the thread count, so results stay deterministic.
Candidate make_dnnl_sgemm_split(int threads) {
  Candidate c;
  c.info = dnnl_info() + "; dnnl_sgemm, one call per thread on a block of C";
  c.gemm = [threads](const Shape& s, const float* A, const float* B, float* C) {
    int64_t lda = s.ta ? s.M : s.K, ldb = s.tb ? s.K : s.N;
    bool split_m = s.M >= s.N;
    int64_t dim = split_m ? s.M : s.N;
    int64_t chunk = ((dim + threads - 1) / threads + 15) / 16 * 16;
    int nblocks = int((dim + chunk - 1) / chunk);
#pragma omp parallel for num_threads(nblocks) schedule(static, 1)
    for (int b = 0; b < nblocks; ++b) {
      int64_t lo = b * chunk, len = std::min(chunk, dim - lo);
      if (split_m) {  // rows lo.. of C and of op(A)
        const float* a = s.ta ? A + lo : A + lo * lda;
        dnnl_sgemm(s.ta ? 'T' : 'N', s.tb ? 'T' : 'N', len, s.N, s.K, 1.0f, a, lda, B, ldb, 0.0f,
                   C + lo * s.N, s.N);
      } else {  // columns lo.. of C and of op(B)
        const float* bb = s.tb ? B + lo * ldb : B + lo;
        dnnl_sgemm(s.ta ? 'T' : 'N', s.tb ? 'T' : 'N', s.M, len, s.K, 1.0f, A, lda, bb, ldb, 0.0f,
                   C + lo, s.N);
      }
    }
  };
  return c;
}

// What ae itself runs: ae::cpu::gemm (kernels/cpu/gemm.cpp).
Candidate make_ae(int threads) {
  ae::cpu::set_gemm_threads(threads);
  Candidate c;
  c.info = "ae::cpu::gemm: " + ae::cpu::gemm_library();
  c.gemm = [](const Shape& s, const float* A, const float* B, float* C) {
    ae::cpu::gemm<float>(s.ta, s.tb, s.M, s.N, s.K, 1.0f, A, s.ta ? s.M : s.K, B, s.tb ? s.K : s.N,
                         0.0f, C, s.N);
  };
  return c;
}

// The matmul primitive, created once per shape (a real wrapper would cache it the same way).
Candidate make_dnnl_matmul() {
  using namespace dnnl;
  auto eng = std::make_shared<engine>(engine::kind::cpu, 0);
  auto strm = std::make_shared<stream>(*eng);
  struct Prim {
    matmul prim;
    memory::desc a, b, c;
  };
  auto cache = std::make_shared<std::map<std::string, Prim>>();
  Candidate c;
  c.info = dnnl_info() + "; matmul primitive";
  c.gemm = [eng, strm, cache](const Shape& s, const float* A, const float* B, float* C) {
    std::string key = shape_name(s);
    auto it = cache->find(key);
    if (it == cache->end()) {
      using dt = memory::data_type;
      // Strides express the transposes: op(A)[m,k] lives at A[k*M + m] when A is stored [K,M].
      memory::desc a({s.M, s.K}, dt::f32, s.ta ? memory::dims{1, s.M} : memory::dims{s.K, 1});
      memory::desc b({s.K, s.N}, dt::f32, s.tb ? memory::dims{1, s.K} : memory::dims{s.N, 1});
      memory::desc cd({s.M, s.N}, dt::f32, memory::dims{s.N, 1});
      matmul::primitive_desc pd(matmul::desc(a, b, cd), *eng);
      it = cache->emplace(key, Prim{matmul(pd), a, b, cd}).first;
    }
    Prim& p = it->second;
    memory ma(p.a, *eng, const_cast<float*>(A)), mb(p.b, *eng, const_cast<float*>(B)),
        mc(p.c, *eng, C);
    p.prim.execute(*strm, {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}});
    strm->wait();
  };
  return c;
}

std::vector<Shape> bench_shapes() {
  // The model's GEMMs at batch 256 (layer i: in→out; W [out,in]):
  //   forward  Y[256,out]  = X[256,in]·Wᵀ     → NT (M=256, N=out, K=in)
  //   backward dW[out,in]  = dZᵀ·X           → TN (M=out, N=in, K=256)
  //   backward dX[256,in]  = dZ[256,out]·W   → NN (M=256, N=in, K=out)
  std::map<std::string, std::string> role = {
      {"NT 256x256x784", "fwd L1"},         {"NT 256x32x256", "fwd L2"},
      {"NT 256x256x32", "fwd L3"},          {"NT 256x784x256", "fwd L4"},
      {"TN 256x784x256", "dW L1"},          {"TN 32x256x256", "dW L2"},
      {"TN 256x32x256", "dW L3"},           {"TN 784x256x256", "dW L4"},
      {"NN 256x256x32", "dX L2"},           {"NN 256x32x256", "dX L3"},
      {"NN 256x256x784", "dX L4"}};
  const int64_t mnk[][3] = {{256, 256, 784}, {256, 784, 256}, {784, 256, 256},
                            {256, 32, 256},  {32, 256, 256},  {256, 256, 32}};
  std::vector<Shape> out;
  for (auto& d : mnk)
    for (int t = 0; t < 4; ++t) {
      Shape s{(t & 2) != 0, (t & 1) != 0, d[0], d[1], d[2], ""};
      auto it = role.find(shape_name(s));
      if (it != role.end()) s.role = it->second;
      out.push_back(s);
    }
  out.push_back({false, false, 2048, 2048, 2048, "sanity"});
  return out;
}

// One training step's GEMMs of 784-256r-32-256r-784s at batch 256, with every tensor in its own
// buffer as in a real plan. With `elementwise`, an OpenMP loop touches each GEMM output (as the
// activation/bias passes do), so a BLAS whose threads fight OpenMP's spinning workers shows it.
struct StepWorkload {
  std::vector<int64_t> dims = {784, 256, 32, 256, 784};
  int64_t batch = 256;
  std::vector<std::vector<float>> x, w, dz, dw, dx;  // x[l]: [batch, in_l]; w[l]: [out_l, in_l]; ...
  StepWorkload() {
    size_t L = dims.size() - 1;
    for (size_t l = 0; l < L; ++l) {
      int64_t in = dims[l], out = dims[l + 1];
      x.emplace_back(batch * in, 0.01f);
      w.emplace_back(out * in, 0.02f);
      dz.emplace_back(batch * out, 0.03f);
      dw.emplace_back(out * in, 0.0f);
      dx.emplace_back(batch * in, 0.0f);
    }
    x.emplace_back(batch * dims.back(), 0.0f);  // the reconstruction
  }
  static void touch(std::vector<float>& v, bool elementwise) {
    if (!elementwise) return;
    float* p = v.data();
    int64_t n = int64_t(v.size());
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) p[i] = p[i] > 0.0f ? p[i] * 0.5f : 0.0f;
  }
  double flops(bool train, size_t layers) const {
    double f = 0;
    for (size_t l = 0; l < layers; ++l) {
      double mk = double(batch) * dims[l] * dims[l + 1] * 2;
      f += mk;                           // forward
      if (train) f += mk + (l > 0 ? mk : 0);  // dW, and dX except for the first layer
    }
    return f;
  }
  void forward(const Gemm& g, size_t layers, bool elementwise) {
    for (size_t l = 0; l < layers; ++l) {
      int64_t in = dims[l], out = dims[l + 1];
      g({false, true, batch, out, in, ""}, x[l].data(), w[l].data(), x[l + 1].data());
      touch(x[l + 1], elementwise);
    }
  }
  void step(const Gemm& g, bool elementwise) {
    size_t L = dims.size() - 1;
    forward(g, L, elementwise);
    for (size_t l = L; l-- > 0;) {
      int64_t in = dims[l], out = dims[l + 1];
      g({true, false, out, in, batch, ""}, dz[l].data(), x[l].data(), dw[l].data());
      if (l > 0) {
        g({false, false, batch, in, out, ""}, dz[l].data(), w[l].data(), dx[l].data());
        touch(dx[l], elementwise);
      }
    }
  }
};

// Child: time every shape and the step with one candidate at one thread count; print lines
// "I <info>", "R <shape>\t<GFLOP/s>", "S <what>\t<samples/s>" for the parent.
int run_child(const std::string& name, int threads) {
  omp_set_num_threads(threads);
  Candidate c;
  if (name == "openblas") c = make_openblas(false, threads);
  else if (name == "openblas-forced") c = make_openblas(true, threads);
#ifdef AE_BENCH_HAVE_BLIS
  else if (name == "blis") c = make_blis(threads);
#endif
  else if (name == "dnnl-sgemm") c = make_dnnl_sgemm();
  else if (name == "dnnl-sgemm-split") c = make_dnnl_sgemm_split(threads);
  else if (name == "dnnl-matmul") c = make_dnnl_matmul();
  else if (name == "ae") c = make_ae(threads);
  else {
    std::fprintf(stderr, "unknown candidate %s\n", name.c_str());
    return 2;
  }
  std::printf("I %s\n", c.info.c_str());
  std::fflush(stdout);
  for (const Shape& s : bench_shapes()) {
    std::vector<float> A(s.M * s.K, 0.5f), B(s.K * s.N, 0.25f), C(s.M * s.N);
    double t = median_seconds([&] { c.gemm(s, A.data(), B.data(), C.data()); },
                              s.M >= 2048 ? 5 : 11);
    std::printf("R %s\t%.1f\n", shape_name(s).c_str(), 2.0 * s.M * s.N * s.K / t * 1e-9);
    std::fflush(stdout);
  }
  StepWorkload w;
  for (bool elementwise : {false, true}) {
    const char* tag = elementwise ? " +omp elementwise" : "";
    double t = median_seconds([&] { w.step(c.gemm, elementwise); });
    std::printf("S train step%s\t%.0f\t%.1f\n", tag, w.batch / t, w.flops(true, 4) / t * 1e-9);
    t = median_seconds([&] { w.forward(c.gemm, 2, elementwise); });
    std::printf("S encode%s\t%.0f\t%.1f\n", tag, w.batch / t, w.flops(false, 2) / t * 1e-9);
    std::fflush(stdout);
  }
  return 0;
}

struct ChildResult {
  std::string info;
  std::map<std::string, std::string> gflops, steps;
};

ChildResult spawn(const std::string& self, const std::string& name, int threads) {
  std::string cmd = "'" + self + "' --candidate " + name + " --threads " + std::to_string(threads);
  ChildResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char line[512];
  while (std::fgets(line, sizeof line, p)) {
    std::string s(line);
    if (!s.empty() && s.back() == '\n') s.pop_back();
    if (s.size() < 2) continue;
    std::string body = s.substr(2);
    auto tab = body.find('\t');
    if (s[0] == 'I') r.info = body;
    else if (s[0] == 'R' && tab != std::string::npos) r.gflops[body.substr(0, tab)] = body.substr(tab + 1);
    else if (s[0] == 'S' && tab != std::string::npos) r.steps[body.substr(0, tab)] = body.substr(tab + 1);
  }
  if (pclose(p) != 0) r.info += " (child failed)";
  return r;
}

// Keeps, per entry, the larger figure (the first number of an entry is the one compared).
void merge_best(ChildResult& best, const ChildResult& other) {
  auto merge = [](std::map<std::string, std::string>& into, const std::map<std::string, std::string>& from) {
    for (auto& [k, v] : from)
      if (!into.count(k) || std::atof(v.c_str()) > std::atof(into[k].c_str())) into[k] = v;
  };
  merge(best.gflops, other.gflops);
  merge(best.steps, other.steps);
}

}  // namespace

int main(int argc, char** argv) {
  std::string candidate;
  int repeat = 1;
  std::vector<int> thread_counts = {1, 2};
  std::vector<std::string> names = {"openblas", "openblas-forced", "blis", "dnnl-sgemm",
                                    "dnnl-sgemm-split", "dnnl-matmul", "ae"};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--candidate" && i + 1 < argc) candidate = argv[++i];
    else if (a == "--threads" && i + 1 < argc) thread_counts = {std::atoi(argv[++i])};
    else if (a == "--only" && i + 1 < argc) names = {argv[++i]};
    else if (a == "--repeat" && i + 1 < argc) repeat = std::max(1, std::atoi(argv[++i]));
    else {
      std::fprintf(stderr,
                   "usage: %s [--threads N] [--only CANDIDATE] [--repeat R]\n"
                   "candidates: openblas openblas-forced blis dnnl-sgemm dnnl-sgemm-split dnnl-matmul ae\n"
                   "--repeat R runs each child R times and keeps, per entry, the best of the R\n"
                   "medians (the run least disturbed by other processes on a shared machine)\n",
                   argv[0]);
      return 2;
    }
  }
  if (!candidate.empty()) return run_child(candidate, thread_counts.front());

  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return 2;
  self[n] = 0;
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  const char* l2 = std::getenv("OPENBLAS_L2_SIZE");
  std::printf("environment: OPENBLAS_CORETYPE=%s OPENBLAS_L2_SIZE=%s; best of %d run(s) per "
              "candidate\n\n",
              coretype ? coretype : "(unset)", l2 ? l2 : "(unset)", repeat);
  for (int t : thread_counts) {
    // Rounds over all candidates, not one candidate R times in a row: a burst of load from other
    // processes then hits every candidate alike instead of ruining one column.
    std::vector<ChildResult> res(names.size());
    for (int r = 0; r < repeat; ++r)
      for (size_t i = 0; i < names.size(); ++i) {
        ChildResult one = spawn(self, names[i], t);
        if (r == 0) res[i] = one;
        else merge_best(res[i], one);
      }
    std::printf("### %d thread%s — GFLOP/s, median\n\n", t, t > 1 ? "s" : "");
    for (size_t i = 0; i < names.size(); ++i)
      std::printf("- %s: %s\n", names[i].c_str(), res[i].info.c_str());
    std::printf("\n| shape (op M×N×K) | role |");
    for (auto& name : names) std::printf(" %s |", name.c_str());
    std::printf("\n|---|---|");
    for (size_t i = 0; i < names.size(); ++i) std::printf("---:|");
    std::printf("\n");
    for (const Shape& s : bench_shapes()) {
      std::string key = shape_name(s);
      std::printf("| %s | %s |", key.c_str(), s.role.c_str());
      for (auto& r : res) std::printf(" %s |", r.gflops.count(key) ? r.gflops[key].c_str() : "-");
      std::printf("\n");
    }
    for (const char* key : {"train step", "encode", "train step +omp elementwise",
                            "encode +omp elementwise"}) {
      std::printf("| **%s** | samples/s, GFLOP/s |", key);
      for (auto& r : res) {
        std::string v = r.steps.count(key) ? r.steps[key] : "-";
        std::replace(v.begin(), v.end(), '\t', ' ');
        std::printf(" %s |", v.c_str());
      }
      std::printf("\n");
    }
    std::printf("\n");
    std::fflush(stdout);
  }
  return 0;
}
