// `ae knn` and `ae cluster` on cuda-sim against cpu: the device path (ae's CUDA norm and distance
// kernels, Thrust's selection of each query's k nearest) predicts the same label for every test
// row, and k-means on its searches assigns the same clusters.
#include <gtest/gtest.h>

#include <string>

#include "tests/e2e/e2e_util.h"

namespace ae::e2e {
namespace {

const std::string TRAIN_LABELS = FASHION_DIR + "train-labels-idx1-ubyte.gz";
const std::string TEST_LABELS = FASHION_DIR + "t10k-labels-idx1-ubyte.gz";

TEST(LatentCudaSimCli, KnnAndClusterEqualCpu) {
  ScratchDir dir;
  const std::string model = dir / "m.st";
  expect_success(run_ae({"train", "--data", TRAIN_IMAGES, "--max-rows", "1000", "--batch", "100", "--epochs", "2", "--no-val",
                         "--spec", "784-64r-12-64r-784s", "--threads", "1", "--quiet", "--checkpoint", "none", "--out", model},
                        dir));
  std::string files[2][2];
  const char* devices[2] = {"cpu", "cuda-sim"};
  for (int d = 0; d < 2; ++d) {
    files[d][0] = dir / (std::string(devices[d]) + "-knn.csv");
    files[d][1] = dir / (std::string(devices[d]) + "-cluster.csv");
    RunResult r = run_ae({"knn", "--model", model, "--train", TRAIN_IMAGES, "--train-labels", TRAIN_LABELS, "--max-rows", "700",
                          "--test", TEST_IMAGES, "--test-labels", TEST_LABELS, "--test-rows", "77", "--k", "7", "--device", devices[d],
                          "--out", files[d][0], "--threads", "1", "--quiet"},
                         dir);
    expect_success(r);
    expect_success(run_ae({"cluster", "--model", model, "--data", TEST_IMAGES, "--labels", TEST_LABELS, "--max-rows", "300", "--restarts",
                           "2", "--max-iter", "20", "--device", devices[d], "--out", files[d][1], "--threads", "1", "--quiet"},
                          dir));
  }
  EXPECT_EQ(read_text(files[1][0]), read_text(files[0][0]));
  EXPECT_EQ(read_text(files[1][1]), read_text(files[0][1]));
}

}  // namespace
}  // namespace ae::e2e
