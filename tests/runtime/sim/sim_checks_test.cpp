// runtime/sim's racecheck and memcheck: each kind of planted shared-memory hazard is reported with
// the kernel, both threads and the offset, for every seed, in static and dynamic shared memory; the
// same hand-offs done right are not; an off-by-one past a buffer is reported whether it leaves the
// allocation or runs into the gap before the next buffer carved from it (an arena).
#include <cstring>

#include "tests/runtime/sim/kernels/sim_test_kernels.cuh"
#include "tests/runtime/sim/sim_test_util.h"

namespace ae::simtest {
namespace {

#define AE_REQUIRE_CHECKS()                   \
  if (!ae::sim::checks_instrumented()) \
  GTEST_SKIP() << "racecheck and memcheck need the instrumented build (the ASan build goes without)"

// Runs `fn` and returns the launch error's text ("" when it did not fail).
template <typename FN>
std::string failure_of(FN fn) {
  try {
    fn();
  } catch (const ae::Error& e) {
    EXPECT_EQ(cudaGetLastError(), cudaSuccess);
    return e.what();
  }
  return {};
}

void expect_parts(const std::string& what, std::initializer_list<const char*> parts) {
  for (const char* p : parts) EXPECT_NE(what.find(p), std::string::npos) << "missing '" << p << "' in: " << what;
}

struct HazardCase {
  PlantedHazard kind;
  const char* report;   // the hazard named, or nullptr for a correct kernel
  const char* first;    // the two threads, in report order
  const char* second;
};

const HazardCase k_hazards[] = {
    {HAZARD_RAW, "read-after-write hazard", "thread (32,0,0) [warp 1 lane 0] reads", "thread (0,0,0) [warp 0 lane 0] wrote"},
    {HAZARD_WAR, "write-after-read hazard", "thread (0,0,0) [warp 0 lane 0] writes", "thread (32,0,0) [warp 1 lane 0] read"},
    {HAZARD_WAW, "write-after-write hazard", "thread (32,0,0) [warp 1 lane 0] writes", "thread (0,0,0) [warp 0 lane 0] wrote"},
    {HAZARD_RAW_IN_WARP, "read-after-write hazard", "thread (1,0,0) [warp 0 lane 1] reads", "thread (0,0,0) [warp 0 lane 0] wrote"},
    {HAZARD_RAW_AFTER_SHUFFLE, "read-after-write hazard", "thread (1,0,0) [warp 0 lane 1] reads", "thread (0,0,0) [warp 0 lane 0] wrote"},
};

TEST(SimRacecheck, EveryPlantedHazardKindIsReportedWithKernelThreadsAndOffsetOnEverySeed) {
  AE_REQUIRE_CHECKS();
  ScopedChecks on(ae::sim::check_all);
  DeviceBuffer<int> out(static_cast<size_t>(64));
  const uint64_t saved = ae::sim::seed();
  for (bool dynamic : {false, true}) {
    for (const HazardCase& h : k_hazards) {
      for (uint64_t s = 1; s <= 5; ++s) {
        ae::sim::set_seed(s);
        std::string what = failure_of([&] { launch_planted_hazard(h.kind, dynamic, out.get()); });
        SCOPED_TRACE(std::string(dynamic ? "dynamic" : "static") + " shared memory, " + h.report + " " + seed_note());
        ASSERT_FALSE(what.empty()) << "no hazard reported";
        expect_parts(what, {"racecheck:", h.report, h.first, h.second, "planted_hazard",
                            dynamic ? "on dynamic shared memory at offset 0x14" : "on static __shared__ memory",
                            "4-byte", "block (0,0,0)", "AE_SIM_SEED="});
      }
    }
  }
  ae::sim::set_seed(saved);
}

// Every thread reads one word, then thread 0 overwrites it after a __syncwarp of its own warp: the
// reads of warp 1 are unordered with the write whichever threads read first and last, so the hazard
// is reported on every seed (not only when the shuffled order leaves a warp-1 reader on record).
TEST(SimRacecheck, AWriteAfterReadsOfManyWarpsIsReportedOnEverySeed) {
  AE_REQUIRE_CHECKS();
  ScopedChecks on(ae::sim::check_all);
  DeviceBuffer<int> out(static_cast<size_t>(64));
  const uint64_t saved = ae::sim::seed();
  for (bool dynamic : {false, true}) {
    for (uint64_t s = 1; s <= 24; ++s) {
      ae::sim::set_seed(s);
      SCOPED_TRACE(std::string(dynamic ? "dynamic" : "static") + " shared memory, " + seed_note());
      std::string what = failure_of([&] { launch_planted_hazard(HAZARD_WAR_BROADCAST, dynamic, out.get()); });
      ASSERT_FALSE(what.empty()) << "no hazard reported";
      expect_parts(what, {"racecheck: write-after-read hazard", "thread (0,0,0) [warp 0 lane 0] writes", "[warp 1 lane"});
    }
  }
  ae::sim::set_seed(saved);
}

TEST(SimRacecheck, CorrectHandOffsAreNotHazards) {
  AE_REQUIRE_CHECKS();
  ScopedChecks on(ae::sim::check_all);
  DeviceBuffer<int> out(static_cast<size_t>(64));
  for (bool dynamic : {false, true}) {
    SCOPED_TRACE(dynamic ? "dynamic shared memory" : "static shared memory");
    launch_planted_hazard(SAFE_SYNCWARP, dynamic, out.get());
    EXPECT_EQ(out.download()[1], 7) << "__syncwarp of both lanes";
    launch_planted_hazard(SAFE_SYNCTHREADS, dynamic, out.get());
    EXPECT_EQ(out.download()[32], 7) << "__syncthreads";
    launch_planted_hazard(SAFE_ATOMICS, dynamic, out.get());
    std::vector<int> a = out.download();
    for (int t = 0; t < 64; ++t) ASSERT_EQ(a[size_t(t)], 64) << "atomics, thread " << t;
    launch_planted_hazard(SAFE_NEIGHBOUR_HALVES, dynamic, out.get());
    std::vector<int> h = out.download();
    for (int t = 0; t < 64; ++t) ASSERT_EQ(h[size_t(t)], t ^ 1) << "2-byte neighbours, thread " << t;
  }
}

// A wmma store to shared memory is done by the lanes of the warp that calls it (each stores its
// fragment elements), not by whichever thread the sim happened to run last: read back after a
// __syncwarp it is no hazard on any seed, without one a lane reading another's element is.
TEST(SimRacecheck, WmmaStoresAreTheStoringWarpsOwn) {
  AE_REQUIRE_CHECKS();
  ScopedChecks on(ae::sim::check_all);
  DeviceBuffer<float> out(static_cast<size_t>(512));
  const uint64_t saved = ae::sim::seed();
  for (uint64_t s = 1; s <= 12; ++s) {
    ae::sim::set_seed(s);
    SCOPED_TRACE(seed_note());
    ASSERT_EQ(failure_of([&] { launch_wmma_staged_epilogue(3.0f, true, out.get()); }), "");
    for (float v : out.download()) ASSERT_EQ(v, 3.0f);
    std::string what = failure_of([&] { launch_wmma_staged_epilogue(3.0f, false, out.get()); });
    expect_parts(what, {"racecheck: read-after-write hazard", "wmma_staged_epilogue", "on static __shared__ memory"});
    const size_t reader = what.find("[warp "), writer = what.find("[warp ", reader + 1);
    ASSERT_NE(writer, std::string::npos) << what;
    EXPECT_EQ(what.substr(reader, 8), what.substr(writer, 8)) << "both threads in one warp: " << what;
  }
  ae::sim::set_seed(saved);
}

TEST(SimRacecheck, SwitchedOffTheHazardRunsUnreported) {
  AE_REQUIRE_CHECKS();
  ScopedChecks off(ae::sim::check_memory);
  DeviceBuffer<int> out(static_cast<size_t>(64));
  EXPECT_EQ(failure_of([&] { launch_planted_hazard(HAZARD_RAW, true, out.get()); }), "");
}

TEST(SimMemcheck, OffByOnePastAnAllocationIsReportedWithKernelAndThread) {
  AE_REQUIRE_CHECKS();
  ScopedChecks on(ae::sim::check_all);
  DeviceBuffer<float> data(static_cast<size_t>(1000));
  std::string what = failure_of([&] { fault_out_of_bounds_write(data.get(), 1000); });
  expect_parts(what, {"memcheck: invalid 4-byte write", "out_of_bounds_write", "offset 4000 of a 4000-byte device allocation, past its end",
                      "thread (", "block ("});
}

// Atomics are not hazards, but they still touch memory: an atomicAdd one past a buffer is out of bounds.
TEST(SimMemcheck, AtomicOffByOneIsReported) {
  AE_REQUIRE_CHECKS();
  ScopedChecks on(ae::sim::check_all);
  DeviceBuffer<char> arena(static_cast<size_t>(4096));
  auto* h1 = reinterpret_cast<float*>(arena.get());
  EXPECT_EQ(failure_of([&] { launch_atomic_add_n_plus_one(h1, 255); }), "") << "in bounds, unnamed";
  ae::sim::name_buffer(h1, 1024, "h1");
  ae::sim::name_buffer(arena.get() + 1280, 1024, "h2");
  EXPECT_EQ(failure_of([&] { launch_atomic_add_n_plus_one(h1, 255); }), "") << "in bounds, named";
  std::string what = failure_of([&] { launch_atomic_add_n_plus_one(h1, 256); });
  expect_parts(what, {"memcheck: invalid 4-byte atomic", "atomic_add_n_plus_one", "offset 1024 of buffer 'h1'",
                      "in the gap before buffer 'h2'"});
  DeviceBuffer<float> data(static_cast<size_t>(1000));
  expect_parts(failure_of([&] { launch_atomic_add_n_plus_one(data.get(), 1000); }),
               {"memcheck: invalid 4-byte atomic", "offset 4000 of a 4000-byte device allocation, past its end"});
}

// An arena as ae's executor lays one out under the sim: buffers carved from one allocation, named,
// with a gap after each. Without names the neighbour's bytes are valid memory and nothing can tell.
TEST(SimMemcheck, OffByOneInsideAnArenaIsReportedNamingTheBuffer) {
  AE_REQUIRE_CHECKS();
  ScopedChecks on(ae::sim::check_all);
  const int n = 256;  // 1024 bytes: a multiple of every alignment, so only a gap can catch it
  DeviceBuffer<char> arena(static_cast<size_t>(8192));
  char* base = arena.get();
  auto at = [&](int offset) { return reinterpret_cast<float*>(base + offset); };
  float *h1 = at(0), *h2 = at(1280), *h3 = at(2560), *big = at(3840);  // 1024 bytes + a 256-byte gap each

  EXPECT_EQ(failure_of([&] { launch_copy_n_plus_one(h1, h3, n - 1); }), "") << "in bounds";
  EXPECT_EQ(failure_of([&] { launch_copy_n_plus_one(big, h1, n); }), "")
      << "unnamed, the arena is one buffer: the write into the next bytes is not visible";

  ae::sim::name_buffer(h1, 1024, "h1");
  ae::sim::name_buffer(h2, 1024, "h2");
  ae::sim::name_buffer(h3, 1024, "h3");
  ae::sim::name_buffer(big, 8192 - 3840, "big");
  EXPECT_EQ(failure_of([&] { launch_copy_n_plus_one(h1, h3, n - 1); }), "") << "in bounds, named";
  std::string write = failure_of([&] { launch_copy_n_plus_one(big, h1, n); });
  expect_parts(write, {"memcheck: invalid 4-byte write", "copy_n_plus_one", "thread (0,0,0) [warp 0 lane 0]",
                       "block (2,0,0)", "offset 1024 of buffer 'h1' (1024 bytes at offset 0 of a 8192-byte device allocation)",
                       "past its end", "in the gap before buffer 'h2'"});
  std::string read = failure_of([&] { launch_copy_n_plus_one(h2, big, n); });
  expect_parts(read, {"memcheck: invalid 4-byte read", "offset 1024 of buffer 'h2'", "in the gap before buffer 'h3'"});
  std::string gap = failure_of([&] { launch_copy_n_plus_one(at(1024), big, 10); });  // wholly in the gap
  expect_parts(gap, {"memcheck: invalid 4-byte read", "of buffer 'h1'", "past its end", "in the gap before buffer 'h2'"});
  ae::sim::clear_buffers(base);
  EXPECT_EQ(failure_of([&] { launch_copy_n_plus_one(big, h1, n); }), "") << "names cleared";
}

// Dynamic shared memory has bounds too: the launch's size (as compute-sanitizer's memcheck reports
// an access past the shared window on a GPU, where it would land in another block's shared memory).
TEST(SimMemcheck, OffByOnePastDynamicSharedMemoryIsReported) {
  AE_REQUIRE_CHECKS();
  ScopedChecks on(ae::sim::check_all);
  DeviceBuffer<int> out(static_cast<size_t>(64));
  EXPECT_EQ(failure_of([&] { launch_dynamic_smem_shifted(64, 0, out.get()); }), "") << "in bounds";
  EXPECT_EQ(out.download()[63], 63);
  expect_parts(failure_of([&] { launch_dynamic_smem_shifted(64, 1, out.get()); }),
               {"memcheck: invalid 4-byte write", "dynamic_smem_shifted", "thread (63,0,0) [warp 1 lane 31]",
                "offset 256 of the launch's 256-byte dynamic shared memory, past its end"});
  expect_parts(failure_of([&] { launch_dynamic_smem_shifted(64, -1, out.get()); }),
               {"memcheck: invalid 4-byte write", "thread (0,0,0) [warp 0 lane 0]",
                "offset -4 of the launch's 256-byte dynamic shared memory, before its start"});
}

TEST(SimMemcheck, SwitchedOffTheOffByOneRunsUnreported) {
  AE_REQUIRE_CHECKS();
  ScopedChecks off(ae::sim::check_race);
  DeviceBuffer<char> arena(static_cast<size_t>(4096));
  ae::sim::name_buffer(arena.get(), 1024, "h1");
  EXPECT_EQ(failure_of([&] { launch_copy_n_plus_one(reinterpret_cast<float*>(arena.get()),
                                                    reinterpret_cast<float*>(arena.get() + 2048), 256); }),
            "");
}

TEST(SimMemcheck, NamingOutsideAnAllocationIsRefused) {
  DeviceBuffer<char> a(static_cast<size_t>(512));
  std::vector<char> host(16);
  EXPECT_THROW(ae::sim::name_buffer(host.data(), 16, "host"), std::invalid_argument);
  EXPECT_THROW(ae::sim::name_buffer(a.get() + 500, 16, "straddles the end"), std::invalid_argument);
}

}  // namespace
}  // namespace ae::simtest
