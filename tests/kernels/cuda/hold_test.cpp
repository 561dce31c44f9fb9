// The hold kernel (kernels/cuda/hold.cuh), the bench's way of queueing a timed step before it
// starts: released, it returns without touching timed_out; never released, it gives up after
// max_polls reads and says so. No cpu reference: it computes nothing.
#include "kernels/cuda/hold.cuh"

#include <gtest/gtest.h>

#include "tests/kernels/cuda/harness.h"

namespace ae::cudatest {
namespace {

class Hold : public DeviceTest {
 protected:
  void SetUp() override {
    DeviceTest::SetUp();
    if (IsSkipped()) return;
    AE_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&m_flags), 2 * sizeof(int)));
  }
  void TearDown() override {
    if (m_flags) cudaFreeHost(m_flags);
  }
  int* m_flags = nullptr;  // [0] release, [1] timed_out
};

TEST_F(Hold, ReturnsOnceReleased) {
#if AE_CUDATEST_SIM
  if (!ae::sim::deferred_streams()) GTEST_SKIP() << "a release after the launch needs deferred streams";
#endif
  cudaStream_t s;
  AE_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  m_flags[0] = 0, m_flags[1] = 0;
  ae::cuda::hold_stream(&m_flags[0], &m_flags[1], int64_t(1) << 26, s);  // a GPU gives up after about a minute
  *static_cast<volatile int*>(&m_flags[0]) = 1;
  EXPECT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  EXPECT_EQ(m_flags[1], 0);
  cudaStreamDestroy(s);
}

TEST_F(Hold, GivesUpAndSaysSoWhenNeverReleased) {
  m_flags[0] = 0, m_flags[1] = 0;
  ae::cuda::hold_stream(&m_flags[0], &m_flags[1], 1000, nullptr);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_EQ(m_flags[1], 1);
}

TEST(HoldArguments, AreChecked) {
  int flag = 0;
  EXPECT_THROW(ae::cuda::hold_stream(nullptr, &flag, 1, nullptr), ae::Error);
  EXPECT_THROW(ae::cuda::hold_stream(&flag, &flag, 0, nullptr), ae::Error);
}

}  // namespace
}  // namespace ae::cudatest
