// The differential harness of the CUDA kernel tests (STYLE.md, "One differential test harness"):
// device buffers with guard bytes and NaN prefill, seeded inputs, the one comparison (NaN/Inf class
// first, then bit equality or the tolerance of tolerance.h, printing the worst error and the margin
// left), failure dumps of inputs/reference/output, case naming, and the fixture that skips a test
// when there is no device. Test bodies are plain C++: the kernels run through their launchers and
// the CUDA runtime API, the sim's (AE_CUDATEST_SIM=1) or cudart's (AE_CUDATEST_SIM=0, nvcc kernels).
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "kernels/cuda/launch.cuh"
#include "tests/kernels/cuda/tolerance.h"  // also insists on AE_CUDATEST_SIM
#if AE_CUDATEST_SIM
#include "runtime/sim/sim.h"
#endif

namespace ae::cudatest {

// Why this process cannot run kernels, or "" when it can: cuda-sim's virtual device always exists;
// the nvcc flavour needs a CUDA device (asked once, cudaGetDeviceCount).
inline const std::string& no_device_reason() {
  static const std::string why = [] {
#if AE_CUDATEST_SIM
    return std::string();
#else
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
      cudaGetLastError();  // not sticky, but leave no error behind for the next CUDA call
      return std::string("cudaGetDeviceCount: ") + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
    }
    return n > 0 ? std::string() : std::string("cudaGetDeviceCount found 0 devices");
#endif
  }();
  return why;
}

// The fixture of every test that touches device memory: without a device (nvcc flavour on a machine
// without a GPU) the test reports SKIPPED with the reason, never passed.
class DeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!no_device_reason().empty()) GTEST_SKIP() << "no CUDA device: " << no_device_reason();
  }
};
template <typename P>
class DeviceTestWithParam : public DeviceTest, public ::testing::WithParamInterface<P> {};

// What a failure message appends to replay the run: the sim's schedule seed (a GPU has none).
inline std::string replay_note() {
#if AE_CUDATEST_SIM
  return " [AE_SIM_SEED=" + std::to_string(ae::sim::seed()) + "]";
#else
  return "";
#endif
}

// A device buffer of n elements between two guard zones of GUARD_BYTES bytes each (the arena's
// layout in miniature): a kernel writing past either end of its buffer is caught by
// check_guards(). Prefilled with NaN, so an element a kernel forgets to write fails the compare.
template <typename T>
class DeviceBuffer {
 public:
  static constexpr size_t GUARD_BYTES = 128;  // keeps the payload 128-byte aligned, as the arena
  static constexpr unsigned char GUARD = 0xA5;

  explicit DeviceBuffer(size_t n) : m_n(n) {
    AE_CUDA_CHECK(cudaMalloc(&m_base, bytes_total()));
    std::vector<unsigned char> guard(GUARD_BYTES, GUARD);
    AE_CUDA_CHECK(cudaMemcpy(m_base, guard.data(), GUARD_BYTES, cudaMemcpyHostToDevice));
    AE_CUDA_CHECK(
        cudaMemcpy(m_base + GUARD_BYTES + m_n * sizeof(T), guard.data(), GUARD_BYTES, cudaMemcpyHostToDevice));
    fill_nan();
  }
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) { upload(host); }
  ~DeviceBuffer() { cudaFree(m_base); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* get() const { return reinterpret_cast<T*>(m_base + GUARD_BYTES); }  // non-null even when empty, as in an arena
  size_t size() const { return m_n; }
  void upload(const std::vector<T>& host) {
    ASSERT_EQ(host.size(), m_n);
    if (m_n) AE_CUDA_CHECK(cudaMemcpy(get(), host.data(), m_n * sizeof(T), cudaMemcpyHostToDevice));
  }
  std::vector<T> download() const {
    std::vector<T> host(m_n);
    if (m_n) AE_CUDA_CHECK(cudaMemcpy(host.data(), get(), m_n * sizeof(T), cudaMemcpyDeviceToHost));
    return host;
  }
  void fill_nan() {
    if (m_n) AE_CUDA_CHECK(cudaMemset(get(), 0xff, m_n * sizeof(T)));  // all-ones bits: NaN, −1
  }
  // True when both guard zones still hold their pattern.
  bool guards_intact() const {
    std::vector<unsigned char> g(2 * GUARD_BYTES);
    AE_CUDA_CHECK(cudaMemcpy(g.data(), m_base, GUARD_BYTES, cudaMemcpyDeviceToHost));
    AE_CUDA_CHECK(cudaMemcpy(g.data() + GUARD_BYTES, m_base + GUARD_BYTES + m_n * sizeof(T), GUARD_BYTES,
                             cudaMemcpyDeviceToHost));
    return std::all_of(g.begin(), g.end(), [](unsigned char b) { return b == GUARD; });
  }

 private:
  size_t bytes_total() const { return 2 * GUARD_BYTES + m_n * sizeof(T); }
  unsigned char* m_base = nullptr;
  size_t m_n;
};

// Names a buffer's payload for the sim's memcheck: from then on a kernel access to its guard bytes
// (outside every named range of the allocation) is an error, where the guards alone catch only
// writes. Nothing on a GPU (compute-sanitizer sees whole allocations only).
template <typename T>
void name_for_memcheck(const DeviceBuffer<T>& b, const char* name) {
#if AE_CUDATEST_SIM
  if (b.size()) ae::sim::name_buffer(b.get(), b.size() * sizeof(T), name);
#else
  (void)b, (void)name;
#endif
}

// Checks every buffer's guards after an op: expect_guards(op_name, buf1, buf2, ...).
template <typename... BUFS>
void expect_guards(const std::string& op, const BUFS&... bufs) {
  const bool intact[] = {bufs.guards_intact()...};
  for (size_t i = 0; i < sizeof...(BUFS); ++i)
    EXPECT_TRUE(intact[i]) << op << ": guard bytes around buffer #" << i << " overwritten";
}

// The penalties' column partials in their documented order (kernels/cuda/column_partials.cuh)
// on the host, literally and with their own constants: chunk c, group g (rows 64c + 4g .. + 3),
// rows ≥ M skipped; every sum in float from 0 in ascending order. stat: float(float).
template <class STAT>
std::vector<float> documented_column_partials(const STAT& stat, const std::vector<float>& x, int64_t M, int64_t N) {
  constexpr int64_t C = 64;
  const int64_t chunks = (M + C - 1) / C;
  std::vector<float> part(size_t(chunks * N));
  for (int64_t c = 0; c < chunks; ++c)
    for (int64_t j = 0; j < N; ++j) {
      float sum = 0.0f;
      for (int64_t g = 0; g < 16; ++g) {
        float q = 0.0f;
        for (int64_t i = 0; i < 4; ++i) {
          const int64_t r = c * C + 4 * g + i;
          if (r < M) q += stat(x[size_t(r * N + j)]);
        }
        sum += q;
      }
      part[size_t(c * N + j)] = sum;
    }
  return part;
}

// Seeded inputs. Each purpose (x, w, ...) takes its own stream from (seed, salt).
inline std::vector<float> uniform(size_t n, float lo, float hi, uint64_t seed, uint64_t salt) {
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + salt);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& e : v) e = d(rng);
  return v;
}
// Small integers in [lo, hi]: every product and partial sum of a GEMM stays exact in fp32.
inline std::vector<float> small_ints(size_t n, int lo, int hi, uint64_t seed, uint64_t salt) {
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + salt);
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<float> v(n);
  for (auto& e : v) e = static_cast<float>(d(rng));
  return v;
}

inline double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float e : v) m = std::max(m, std::fabs(static_cast<double>(e)));
  return m;
}

// A gtest-safe name from a case's parameter string: dense_fwd(act=relu,M=37) → dense_fwd_act_relu_M_37.
inline std::string test_name(const std::string& params) {
  std::string s;
  for (char c : params) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c));
    if (ok)
      s += c;
    else if (!s.empty() && s.back() != '_')
      s += '_';
  }
  while (!s.empty() && s.back() == '_') s.pop_back();
  return s;
}

// Named host vectors of one case, written when the test has failed to AE_BINARY_DIR/
// cuda-sim-failures/<case>.txt (cuda-failures/ in the nvcc flavour): inputs, references and
// outputs, for replaying the failure by hand.
class FailureDump {
 public:
  explicit FailureDump(std::string params) : m_params(std::move(params)) {}
  FailureDump(const FailureDump&) = delete;
  FailureDump& operator=(const FailureDump&) = delete;
  void add(const std::string& name, const std::vector<float>& v) { m_entries.emplace_back(name, v); }
  ~FailureDump() {
    if (!::testing::Test::HasFailure()) return;
    const std::filesystem::path dir =
        std::filesystem::path(AE_BINARY_DIR) / (AE_CUDATEST_SIM ? "cuda-sim-failures" : "cuda-failures");
    std::filesystem::create_directories(dir);
    const auto path = dir / (test_name(m_params) + ".txt");
    std::ofstream os(path);
    os << "# " << m_params << replay_note() << "\n";
    os.precision(9);
    for (const auto& [name, v] : m_entries) {
      os << name << " [" << v.size() << "]:";
      for (float e : v) os << ' ' << e;
      os << '\n';
    }
    std::printf("[ dump     ] %s\n", path.c_str());
  }

 private:
  std::string m_params;
  std::vector<std::pair<std::string, std::vector<float>>> m_entries;
};

// The one comparison. NaN and ±Inf first (got must have the reference's class), then bit equality
// (exact mode) or the tolerance bound. Prints the worst error and the share of the bound it used.
inline ::testing::AssertionResult compare(const std::string& what, const std::vector<float>& got,
                                          const std::vector<float>& ref, const Tolerance& tol, int64_t K,
                                          double scale) {
  if (got.size() != ref.size())
    return ::testing::AssertionFailure() << what << ": size " << got.size() << " vs reference " << ref.size();
  size_t bad = 0, first_bad = 0, worst_i = 0;
  double worst_err = 0, worst_ratio = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const float a = got[i], r = ref[i];
    bool ok;
    double err = 0, ratio = 0;
    if (std::isnan(r) || std::isnan(a) || std::isinf(r) || std::isinf(a)) {
      ok = (std::isnan(r) && std::isnan(a)) || (a == r);  // same class; infinities of the same sign
      ratio = ok ? 0 : INFINITY;
      err = ok ? 0 : INFINITY;
    } else if (tol.exact) {
      ok = std::memcmp(&a, &r, sizeof a) == 0;
      err = std::fabs(double(a) - double(r));
      ratio = ok ? 0 : INFINITY;
    } else {
      err = std::fabs(double(a) - double(r));
      const double b = tol.bound(K, scale, r);
      ok = err <= b;
      ratio = b > 0 ? err / b : (err > 0 ? INFINITY : 0);
    }
    if (!ok && bad++ == 0) first_bad = i;
    if (ratio > worst_ratio || (ratio == worst_ratio && err > worst_err)) {
      worst_ratio = ratio;
      worst_err = err;
      worst_i = i;
    }
  }
  std::ostringstream line;
  line.precision(9);
  line << what << ": " << ref.size() << " elements, ";
  if (tol.exact && bad == 0) {
    line << "bit-equal to the reference";
  } else {
    line << (tol.exact ? "exact" : "tolerance") << ", worst |a-r| = " << worst_err;
    if (!ref.empty()) line << " at " << worst_i << " (got " << got[worst_i] << ", ref " << ref[worst_i] << ")";
    if (!tol.exact) line << ", " << 100.0 * worst_ratio << "% of its bound used";
  }
  if (bad == 0) {
    std::printf("[ compare  ] %s\n", line.str().c_str());
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << line.str() << "; " << bad << " elements fail, first at " << first_bad
                                       << " (got " << got[first_bad] << ", ref " << ref[first_bad] << ")"
                                       << replay_note();
}

// Bit equality of two runs (determinism), NaN bits included.
inline ::testing::AssertionResult bitwise_equal(const std::string& what, const std::vector<float>& a,
                                                const std::vector<float>& b) {
  if (a.size() != b.size() || (!a.empty() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) != 0))
    return ::testing::AssertionFailure() << what << ": two runs differ";
  return ::testing::AssertionSuccess();
}

// No vacuous passes: a reference that is all zeros (or empty) would let a kernel that writes
// zeros pass.
inline ::testing::AssertionResult nonzero(const std::string& what, const std::vector<float>& v) {
  if (max_abs(v) > 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << " has zero norm: the check would be vacuous";
}

// Every element finite: a reference still holding its NaN prefill (an output it never wrote, or
// one it added to when it should have overwritten) would match a kernel's NaN and prove nothing.
inline ::testing::AssertionResult finite(const std::string& what, const std::vector<float>& v) {
  for (size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i])) return ::testing::AssertionFailure() << what << "[" << i << "] is " << v[i];
  return ::testing::AssertionSuccess();
}

// Runs f with the sim's schedule seed set to seed, restoring the previous one. On a GPU the hardware
// picks the schedule: f just runs, so two calls are two uncontrolled schedules (still a determinism
// check: no atomics or order-dependent sums may make them differ).
template <class F>
void with_sim_seed(uint64_t seed, F&& f) {
#if AE_CUDATEST_SIM
  const uint64_t old = ae::sim::seed();
  ae::sim::set_seed(seed);
  f();
  ae::sim::set_seed(old);
#else
  (void)seed;
  f();
#endif
}

}  // namespace ae::cudatest
