// runtime/sim failure reporting: kernels that would hang or misbehave on a GPU fail with an error
// naming the kernel, the block and the threads (never a hang), and the sanitizer build catches an
// out-of-bounds global write the way compute-sanitizer's memcheck would.
#include "tests/runtime/sim/kernels/sim_test_kernels.cuh"
#include "tests/runtime/sim/sim_test_util.h"

namespace ae::simtest {
namespace {

// Runs `fn`, expects ae::Error whose message contains every one of `parts`.
template <typename FN>
void expect_failure(FN fn, std::initializer_list<const char*> parts) {
  try {
    fn();
    ADD_FAILURE() << "kernel did not fail";
  } catch (const ae::Error& e) {
    std::string what = e.what();
    for (const char* p : parts) EXPECT_NE(what.find(p), std::string::npos) << "missing '" << p << "' in: " << what;
    EXPECT_NE(what.find("AE_SIM_SEED="), std::string::npos) << what;
  }
  EXPECT_EQ(cudaGetLastError(), cudaSuccess) << "the launch helper consumes the error";
}

TEST(SimFaults, ThreadsAtDifferentBarriersAreReported) {
  expect_failure(fault_mismatched_barriers, {"mismatched_barriers", "same barrier", "cudaErrorLaunchFailure"});
}
TEST(SimFaults, ShuffleWithExitedLanesInMaskIsReported) {
  expect_failure(fault_shfl_lanes_exited, {"shfl_lanes_exited", "__shfl_sync", "has exited"});
}
TEST(SimFaults, LanesDisagreeingOnTheMaskAreReported) {
  expect_failure(fault_mask_mismatch, {"mask_mismatch", "mask 0xffff"});
}
TEST(SimFaults, VoteAfterTailThreadsReturnedIsReported) {
  expect_failure(fault_ballot_after_exit, {"ballot_after_exit", "__ballot_sync", "has exited"});
}
TEST(SimFaults, MaskWithoutOwnLaneIsReported) {
  expect_failure(fault_mask_without_self, {"mask_without_self", "does not include its own lane"});
}
TEST(SimFaults, WarpBarrierAgainstBlockBarrierIsADeadlockReport) {
  expect_failure(fault_warp_vs_block_barrier, {"warp_vs_block_barrier", "__syncwarp", "__syncthreads", "deadlock"});
}
TEST(SimFaults, TrapIsReportedWithTheThread) {
  expect_failure(fault_trap, {"trap_kernel", "__trap", "thread (7,0,0)"});
}
TEST(SimFaults, WmmaWithoutTheWholeWarpIsReported) {
  expect_failure(fault_missing_wmma_lanes, {"missing_wmma_lanes"});
}

TEST(SimFaults, SimKeepsWorkingAfterAFailure) {
  EXPECT_THROW(fault_mismatched_barriers(), ae::Error);
  DeviceBuffer<int> x(std::vector<int>(256, 2)), out(1);
  block_sum(x.get(), 256, out.get(), 1, -1);
  EXPECT_EQ(out.download()[0], 512);
}

#if defined(__SANITIZE_ADDRESS__)
// Only the sanitizer build (AE_SIM_SANITIZE, preset sim-asan) can see the write past the end.
TEST(SimFaultsDeathTest, AddressSanitizerCatchesOutOfBoundsKernelWrite) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        DeviceBuffer<float> data(static_cast<size_t>(1000));
        fault_out_of_bounds_write(data.get(), 1000);
      },
      "heap-buffer-overflow");
}
#endif

}  // namespace
}  // namespace ae::simtest
