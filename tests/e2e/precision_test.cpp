// Mixed precision through the real `ae` binary (issue 13): `--precision bf16` trains the default
// model on Fashion-MNIST close to fp32, the model file records it, encode/score run in either
// precision, and every precision no backend here runs is a one-line error naming the flag.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "host/data/npy.h"
#include "kernels/cpu/gemm.h"
#include "runtime/model.h"
#include "tests/e2e/e2e_util.h"

namespace ae::e2e {
namespace {

// The validation MSE of train's last line ("reconstruction error on FILE (N rows): 0.0123 mean ...").
double test_mse(const std::string& out) {
  const size_t at = out.find("reconstruction error on");
  if (at == std::string::npos) return NAN;
  const size_t num = out.find("): ", at);
  return num == std::string::npos ? NAN : std::stod(out.substr(num + 3));
}

class Precision : public ::testing::Test {
 protected:
  ScratchDir dir;
  void SetUp() override {
    if (!cpu::bf16_gemm_native()) GTEST_SKIP() << "this CPU has no AVX512_BF16: " << cpu::bf16_gemm_support();
  }
  RunResult train(const std::string& precision, const std::string& out) {
    return run_ae({"train", "--data", TRAIN_IMAGES, "--max-rows", "6000", "--val", TEST_IMAGES, "--val-rows", "2000",
                   "--epochs", "3", "--threads", "2", "--quiet", "--precision", precision, "--out", dir / out},
                  dir);
  }
};

// Three epochs on 6000 images: the bf16 model's test MSE within 3 % of the fp32 one's (a short
// run's reconstructions differ more than a converged one's; the 2 % is for 10 epochs on
// all 60 000, measured in the README).
TEST_F(Precision, Bf16TrainsTheDefaultModelCloseToFp32) {
  const RunResult f = train("fp32", "f.safetensors"), b = train("bf16", "b.safetensors");
  expect_success(f);
  expect_success(b);
  const double mf = test_mse(f.out), mb = test_mse(b.out);
  ASSERT_TRUE(std::isfinite(mf) && std::isfinite(mb)) << f.out << b.out;
  EXPECT_LT(std::abs(mb - mf) / mf, 0.03) << "fp32 " << mf << ", bf16 " << mb;
  EXPECT_NE(mb, mf) << "the bf16 run computed exactly what fp32 did: it did not run in bf16";
  EXPECT_EQ(Model::load(dir / "b.safetensors").precision, DType::bf16);
  EXPECT_EQ(Model::load(dir / "f.safetensors").precision, DType::f32);
  const RunResult info = run_ae({"info", "--model", dir / "b.safetensors"}, dir);
  expect_success(info);
  EXPECT_NE(info.out.find("precision: bf16"), std::string::npos) << info.out;

  // The bf16 model's codes in fp32 and in bf16: the same to bf16's resolution.
  const RunResult e32 = run_ae({"encode", "--model", dir / "b.safetensors", "--data", TEST_IMAGES, "--max-rows", "500",
                                "--quiet", "--out", dir / "c32.npy"}, dir);
  const RunResult e16 = run_ae({"encode", "--model", dir / "b.safetensors", "--data", TEST_IMAGES, "--max-rows", "500",
                                "--quiet", "--precision", "bf16", "--out", dir / "c16.npy"}, dir);
  expect_success(e32);
  expect_success(e16);
  const Matrix c32 = read_npy(dir / "c32.npy"), c16 = read_npy(dir / "c16.npy");
  ASSERT_EQ(c32.data.size(), c16.data.size());
  double num = 0, den = 0;
  bool differ = false;
  for (size_t i = 0; i < c32.data.size(); ++i) {
    num += std::pow(double(c32.data[i]) - double(c16.data[i]), 2);
    den += std::pow(double(c32.data[i]), 2);
    differ = differ || c32.data[i] != c16.data[i];
  }
  EXPECT_TRUE(differ);
  EXPECT_LT(std::sqrt(num / den), 0.02) << "relative RMS difference of the codes";
}

TEST_F(Precision, WhatTheCpuDoesNotRunIsAOneLineError) {
  expect_one_line_error(dir, {"train", "--data", TRAIN_IMAGES, "--max-rows", "100", "--precision", "tf32", "--out",
                              dir / "m.safetensors"}, "--precision tf32: tf32 (fp32 storage, tf32 tensor-core GEMMs) is a GPU setting");
  expect_one_line_error(dir, {"train", "--data", TRAIN_IMAGES, "--max-rows", "100", "--precision", "fp16", "--out",
                              dir / "m.safetensors"}, "--precision fp16: fp16 is not available on the cpu backend");
  expect_one_line_error(dir, {"bench", "--precision", "bf8"}, "--precision bf8: unknown precision");
  EXPECT_FALSE(std::filesystem::exists(dir / "m.safetensors"));
}

// The GPU precisions plan anywhere: fp16's loss scaling and tf32's tensor-core rooflines.
TEST_F(Precision, PlanShowsFp16LossScalingAndTf32Rooflines) {
  RunResult r = run_ae({"plan", "--precision", "fp16"}, dir);
  expect_success(r);
  for (const char* want : {"precision fp16", "dynamic loss scaling", "unscale_grads", "update_scale", "arena against fp32"})
    EXPECT_NE(r.out.find(want), std::string::npos) << want << " in:\n" << r.out;
  r = run_ae({"plan", "--precision", "tf32", "--device", "cuda"}, dir);
  expect_success(r);
  for (const char* want : {"precision tf32", "tf32 (", "GEMMs on tensor cores at 156 TFLOP/s", "at 495 TFLOP/s"})
    EXPECT_NE(r.out.find(want), std::string::npos) << want << " in:\n" << r.out;
}

// A checkpoint continues only in the precision it was written in (every step's bits depend on it).
TEST_F(Precision, ResumeRefusesAnotherPrecision) {
  const std::vector<std::string> run = {"train", "--data", TRAIN_IMAGES, "--max-rows", "512", "--steps", "4", "--quiet",
                                        "--threads", "2", "--checkpoint", dir / "c.ckpt", "--out", dir / "m.safetensors"};
  std::vector<std::string> bf16 = run;
  bf16.insert(bf16.end(), {"--precision", "bf16"});
  expect_success(run_ae(bf16, dir));
  std::vector<std::string> resume = run;
  resume.push_back("--resume");
  expect_one_line_error(dir, resume, "precision was \"bf16\", now absent");
  resume.insert(resume.end(), {"--precision", "bf16"});
  expect_success(run_ae(resume, dir));
}

TEST_F(Precision, PlanShowsTheArenaBesideFp32) {
  const RunResult r = run_ae({"plan", "--precision", "bf16"}, dir);
  expect_success(r);
  EXPECT_NE(r.out.find("precision bf16"), std::string::npos) << r.out;
  const size_t at = r.out.find("arena against fp32:");
  ASSERT_NE(at, std::string::npos) << r.out;
  const size_t ratio = r.out.find("ratio ", at);
  ASSERT_NE(ratio, std::string::npos);
  EXPECT_LE(std::stod(r.out.substr(ratio + 6)), 0.55);
}

}  // namespace
}  // namespace ae::e2e
