// The `ae` command on cuda-sim against cpu: `ae train` from the same --init weights with shuffling
// off gives the same per-step losses (1e-5 relative, through --log-json --log-every 1) for every
// optimizer and both losses, and with a gelu output layer; the workflow commands run on cuda-sim,
// and --device cuda without a GPU is a one-line error.
//
// RMSprop runs at lr 1e-4. At 1e-3 (from --seed 1's init) the two backends agree within 1e-6 for 7
// steps and then part: at step 8 single elements of the encoder-bias gradient differ by 8% while all
// else differs by rounding, and the loss differs by 7e-4 at step 10. Their GEMMs sum in different
// orders (oneDNN vs the tiled kernel); a pre-activation within that rounding of the ReLU kink makes
// such a jump, and RMSprop's step g/√v magnifies it on nearly dead units (v tiny). Optimizer kernels
// are bit-equal on equal inputs (tests/kernels/cuda/optimizer_test.cpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "host/data/npy.h"
#include "tests/e2e/e2e_util.h"

namespace ae::e2e {
namespace {

// Per logged step: the objective, then each term when the model has several.
std::vector<double> losses(const std::string& log_path) {
  std::vector<double> out;
  std::istringstream in(read_text(log_path));
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line);
    out.push_back(j.at("train_loss").get<double>());
    if (j.contains("terms"))
      for (auto& [name, v] : j["terms"].items()) out.push_back(v.get<double>());
  }
  return out;
}

// `terms`: the objective terms the log lines carry apart (0 with a single term).
void train_both(const ScratchDir& dir, const std::string& loss, const std::vector<std::string>& opt_flags,
                const std::string& spec = "784-256r-32-256r-784s", size_t terms = 0) {
  SCOPED_TRACE(spec + " " + loss + " " + ::testing::PrintToString(opt_flags));
  const std::string init = dir / ("init-" + loss + ".safetensors");
  auto r = run_ae({"train", "--spec", spec, "--loss", loss, "--steps", "0", "--no-val", "--max-rows", "64",
                   "--checkpoint", "none", "--quiet", "--out", init},
                  dir);
  ASSERT_EQ(r.exit_code, 0) << r.command << "\n" << r.err;
  std::vector<double> l[2];
  const char* devices[2] = {"cpu", "cuda-sim"};
  for (int d = 0; d < 2; ++d) {
    std::string log = dir / (std::string(devices[d]) + "-" + loss + ".jsonl");
    std::vector<std::string> args = {"train", "--init", init, "--device", devices[d], "--steps", "20", "--batch", "32",
                                     "--max-rows", "600", "--no-val", "--shuffle", "off", "--checkpoint", "none",
                                     "--log-json", log, "--log-every", "1", "--quiet",
                                     "--out", dir / (std::string(devices[d]) + "-" + loss + ".safetensors")};
    args.insert(args.end(), opt_flags.begin(), opt_flags.end());
    r = run_ae(args, dir);
    ASSERT_EQ(r.exit_code, 0) << r.command << "\n" << r.err;
    l[d] = losses(log);
  }
  ASSERT_EQ(l[0].size(), 20 * (1 + terms));
  ASSERT_EQ(l[1].size(), l[0].size());
  for (size_t s = 0; s < l[0].size(); ++s)
    EXPECT_LE(std::abs(l[1][s] - l[0][s]) / std::abs(l[0][s]), 1e-5)
        << loss << " value " << s << ": cuda-sim " << l[1][s] << " vs cpu " << l[0][s];
  const size_t stride = l[0].size() / 20;  // objective, then the terms, per step
  EXPECT_LT(l[0][l[0].size() - stride], l[0][0]);
}

TEST(CudaSimCli, TrainMatchesCpuFromTheSameInitForEveryOptimizerAndBothLosses) {
  ScratchDir dir;
  for (const char* loss : {"mse", "bce"}) {
    train_both(dir, loss, {"--optimizer", "sgd", "--lr", "0.1"});
    train_both(dir, loss, {"--optimizer", "sgd", "--lr", "0.05", "--momentum", "0.9", "--nesterov"});
    train_both(dir, loss, {"--optimizer", "adam"});
    train_both(dir, loss, {"--optimizer", "adamw"});
    train_both(dir, loss, {"--optimizer", "rmsprop", "--lr", "1e-4"});
    train_both(dir, loss, {"--optimizer", "rmsprop", "--lr", "1e-4", "--momentum", "0.5"});
  }
}

// gelu's derivative needs z, so the loss kernel cannot fold it in: a separate kernel applies it.
TEST(CudaSimCli, TrainMatchesCpuWithAGeluOutputLayer) {
  ScratchDir dir;
  train_both(dir, "mse", {"--optimizer", "adam"}, "784-64g-16-64g-784g");
}

// Tied weights run the decoder through the unfused primitives (matmul with W used transposed,
// gradients accumulated into the shared weight); the L1 penalty is a second objective term.
TEST(CudaSimCli, TrainMatchesCpuWithTiedWeightsAndAnL1Penalty) {
  ScratchDir dir;
  train_both(dir, "bce", {"--optimizer", "adam"}, "784-64t-16-64t-784s:tied");
  train_both(dir, "mse", {"--optimizer", "sgd", "--lr", "0.1"}, "784-64r-16-64r-784s:tied:l1=0.001", 2);
}

TEST(CudaSimCli, TrainMatchesCpuWithAKlSparsityPenalty) {
  ScratchDir dir;
  train_both(dir, "bce", {"--optimizer", "adam", "--sparsity", "kl:0.05:3"}, "784-64r-16s-64r-784s", 2);
}

// Five 28×28 u8 images in an IDX file in dir: the input of the workflow tests.
std::string five_images(const ScratchDir& dir) {
  const std::string data = dir / "x.idx";
  std::vector<uint8_t> px(5 * 28 * 28);
  for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t(i * 37 % 251);
  write_bytes(data, idx_u8(5, 28, 28, px));
  return data;
}

TEST(CudaSimCli, WorkflowCommandsRunOnCudaSim) {
  ScratchDir dir;
  const std::string model = dir / "m.safetensors";
  auto r = run_ae({"train", "--device", "cuda-sim", "--steps", "3", "--batch", "32", "--max-rows", "96", "--no-val",
                   "--checkpoint", "none", "--quiet", "--out", model},
                  dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string data = five_images(dir);
  for (const char* cmd : {"encode", "reconstruct", "score"}) {
    const std::string out = dir / (std::string(cmd) + ".csv");
    r = run_ae({cmd, "--model", model, "--data", data, "--out", out, "--device", "cuda-sim", "--quiet"}, dir);
    EXPECT_EQ(r.exit_code, 0) << r.command << "\n" << r.err;
    EXPECT_FALSE(read_text(out).empty()) << cmd;
  }
}

// A convolutional model (conv + max pool + upsample + transposed conv) through every command on
// cuda-sim: trained there, then encode, decode, reconstruct and score on cuda-sim agree with the
// cpu backend on the same file (the implicit-GEMM and pool kernels against oneDNN and the loops),
// and info and plan describe it.
TEST(CudaSimCli, ConvolutionalModelRunsEveryCommandLikeCpu) {
  ScratchDir dir;
  const std::string model = dir / "conv.safetensors";
  auto r = run_ae({"train", "--spec", "1x28x28-C4k3s2p1r-M2|-U2-T1k3s2p1o1s", "--device", "cuda-sim", "--steps", "3", "--batch",
                   "16", "--max-rows", "48", "--no-val", "--checkpoint", "none", "--quiet", "--out", model},
                  dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string data = five_images(dir);
  auto both = [&](const std::string& cmd, const std::string& in_flag, const std::string& in) {
    std::vector<std::vector<float>> got;
    for (const char* device : {"cpu", "cuda-sim"}) {
      const std::string out = dir / (cmd + "-" + device + ".npy");
      r = run_ae({cmd, "--model", model, in_flag, in, "--out", out, "--device", device, "--quiet"}, dir);
      EXPECT_EQ(r.exit_code, 0) << r.command << "\n" << r.err;
      got.push_back(read_npy(out).data);
    }
    EXPECT_EQ(got[0].size(), got[1].size()) << cmd;
    EXPECT_FALSE(got[0].empty()) << cmd;
    double worst = 0;
    for (size_t i = 0; i < std::min(got[0].size(), got[1].size()); ++i) worst = std::max(worst, double(std::abs(got[0][i] - got[1][i])));
    EXPECT_LE(worst, 1e-5) << cmd << ": cuda-sim against cpu";
    return got[0];
  };
  const auto codes = both("encode", "--data", data);
  EXPECT_EQ(codes.size(), size_t(5 * 4 * 7 * 7)) << "the code is the max pool's [4, 7, 7]";
  both("decode", "--codes", dir / "encode-cpu.npy");
  both("reconstruct", "--data", data);
  r = run_ae({"score", "--model", model, "--data", data, "--out", dir / "s.csv", "--device", "cuda-sim", "--quiet"}, dir);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = run_ae({"info", "--model", model}, dir);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("encoder.0.weight   [4,1,3,3]  conv2d -> [4,14,14]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("max_pool2d -> [4,7,7]"), std::string::npos) << r.out;
  r = run_ae({"plan", "--spec", "1x28x28-C4k3s2p1r-M2|-U2-T1k3s2p1o1s", "--device", "cuda"}, dir);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("conv_bwd"), std::string::npos) << r.out;
}

// Mixed precision from the command line on cuda-sim: fp16 training reports its loss scale and the
// steps it skipped in the epoch lines and --log-json, the file records the precision, and encode
// runs in each precision the device has (tf32, bf16, fp16), close to the fp32 codes.
TEST(CudaSimCli, MixedPrecisionTrainsAndEncodes) {
  ScratchDir dir;
  const std::string model = dir / "m.safetensors", log = dir / "log.json";
  auto r = run_ae({"train", "--device", "cuda-sim", "--precision", "fp16", "--steps", "4", "--batch", "32", "--max-rows", "128",
                   "--no-val", "--checkpoint", "none", "--log-json", log, "--out", model},
                  dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("skipped 0 (scale 65536)"), std::string::npos) << r.err;
  const auto line = nlohmann::json::parse(read_text(log).substr(0, read_text(log).find('\n')));
  EXPECT_EQ(line["skipped_steps"], 0);
  EXPECT_EQ(line["loss_scale"], 65536.0);
  r = run_ae({"info", "--model", model}, dir);
  EXPECT_NE(r.out.find("precision: fp16"), std::string::npos) << r.out;
  const std::string data = dir / "x.idx";
  std::vector<uint8_t> px(7 * 28 * 28);
  for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t(i * 37 % 251);
  write_bytes(data, idx_u8(7, 28, 28, px));
  std::vector<std::vector<float>> codes;
  for (const char* p : {"fp32", "tf32", "bf16", "fp16"}) {
    const std::string out = dir / (std::string(p) + ".npy");
    r = run_ae({"encode", "--model", model, "--data", data, "--out", out, "--device", "cuda-sim", "--precision", p, "--quiet"}, dir);
    ASSERT_EQ(r.exit_code, 0) << p << ": " << r.err;
    codes.push_back(read_npy(out).data);
  }
  for (size_t p = 1; p < codes.size(); ++p) {
    ASSERT_EQ(codes[p].size(), codes[0].size());
    double num = 0, den = 0;
    for (size_t i = 0; i < codes[0].size(); ++i) {
      num += std::pow(double(codes[p][i]) - codes[0][i], 2);
      den += std::pow(double(codes[0][i]), 2);
    }
    ASSERT_GT(den, 0);
    EXPECT_GT(num, 0) << "precision " << p << " gave the fp32 codes bit for bit";
    EXPECT_LT(std::sqrt(num / den), 0.02) << "relative RMS difference of the codes, precision " << p;
  }
}

// `ae score --top K` ranks and counts flagged rows through runtime/latent.h on the chosen backend
// (on cuda-sim: Thrust on the device pointers). The two backends' scores differ by rounding, so the
// listing must agree row for row except where two cpu scores are within that rounding of each other,
// and the flagged count exactly (the threshold sits halfway between two neighbouring cpu scores).
std::vector<std::pair<int64_t, double>> top_listing(const std::string& out) {
  std::vector<std::pair<int64_t, double>> rows;
  std::istringstream in(out);
  bool listing = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("top ", 0) == 0) {
      listing = true;
      std::getline(in, line);  // column header
      continue;
    }
    if (!listing) continue;
    std::istringstream ls(line);
    int64_t row;
    double score;
    if (!(ls >> row >> score)) break;
    rows.emplace_back(row, score);
  }
  return rows;
}

TEST(CudaSimCli, ScoreTopAndFlaggedCountOnCudaSimEqualCpu) {
  ScratchDir dir;
  const std::string model = dir / "m.safetensors";
  auto r = run_ae({"train", "--spec", "784-32r-8-32r-784s", "--steps", "5", "--batch", "32", "--max-rows", "96", "--no-val",
                   "--checkpoint", "none", "--quiet", "--out", model},
                  dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string data = dir / "x.idx";
  const int rows = 45;
  std::vector<uint8_t> px(size_t(rows) * 28 * 28);
  for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t((i * 37 + (i / 784) * (i / 784) * 11) % 251);
  write_bytes(data, idx_u8(rows, 28, 28, px));
  // The cpu scores first, to place the threshold between two of them.
  r = run_ae({"score", "--model", model, "--data", data, "--out", dir / "cpu0.csv", "--device", "cpu", "--quiet"}, dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<double> scores;
  {
    std::istringstream in(read_text(dir / "cpu0.csv"));
    std::string line;
    std::getline(in, line);
    for (; std::getline(in, line);) scores.push_back(std::stod(line.substr(line.find(',') + 1)));
  }
  ASSERT_EQ(scores.size(), size_t(rows));
  std::vector<double> sorted = scores;
  std::sort(sorted.begin(), sorted.end());
  char thr[64];
  std::snprintf(thr, sizeof thr, "%.9g", (sorted[30] + sorted[31]) / 2);  // 14 rows above
  const int K = 12;
  std::string out[2];
  const char* devices[2] = {"cpu", "cuda-sim"};
  for (int d = 0; d < 2; ++d) {
    r = run_ae({"score", "--model", model, "--data", data, "--out", dir / (std::string(devices[d]) + ".csv"), "--device",
                devices[d], "--top", std::to_string(K), "--threshold", thr, "--quiet"},
               dir);
    ASSERT_EQ(r.exit_code, 0) << r.command << "\n" << r.err;
    out[d] = r.out;
  }
  auto flagged_line = [](const std::string& o) {
    const size_t p = o.find("rows flagged");
    return p == std::string::npos ? std::string() : o.substr(o.rfind(':', p), p - o.rfind(':', p));
  };
  EXPECT_EQ(flagged_line(out[0]), ": 14 ") << out[0];
  EXPECT_EQ(flagged_line(out[1]), flagged_line(out[0])) << out[1];
  const auto want = top_listing(out[0]), got = top_listing(out[1]);
  ASSERT_EQ(want.size(), size_t(K)) << out[0];
  ASSERT_EQ(got.size(), size_t(K)) << out[1];
  for (int i = 0; i < K; ++i) {
    if (got[size_t(i)].first == want[size_t(i)].first) continue;
    const double a = scores[size_t(got[size_t(i)].first)], b = scores[size_t(want[size_t(i)].first)];
    EXPECT_LE(std::abs(a - b), 1e-5 * std::abs(b)) << "rank " << i << ": row " << got[size_t(i)].first << " vs cpu's row "
                                                   << want[size_t(i)].first;
  }
  // Not vacuous: the listing is in descending score order and the scores are not all equal.
  for (int i = 1; i < K; ++i) EXPECT_GE(want[size_t(i - 1)].second, want[size_t(i)].second);
  EXPECT_GT(want.front().second, want.back().second);
}

TEST(CudaSimCli, CudaWithoutAGpuIsAOneLineError) {
  ScratchDir dir;
  auto r = run_ae({"train", "--device", "cuda", "--steps", "1", "--no-val", "--quiet", "--out", dir / "m.safetensors"}, dir);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--device cuda"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(fs::exists(dir / "m.safetensors"));
  r = run_ae({"bench", "--device", "cuda", "--steps", "1"}, dir);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("GPU"), std::string::npos) << r.err;
}

TEST(CudaSimCli, PlanForCudaShowsOneGraphLaunchAndFewerBytesThanUnfused) {
  ScratchDir dir;
  auto r = run_ae({"plan", "--device", "cuda", "--spec", "784-256r-32-256r-784s", "--batch", "256", "--json"}, dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out).at("cuda_estimate");
  EXPECT_TRUE(j.at("estimate").get<bool>());
  EXPECT_EQ(j["launches_per_step"]["graph"].get<int>(), 1);
  EXPECT_GT(j["launches_per_step"]["op_by_op"].get<int>(), 10);  // 4 dense_fwd, 4 dense_bwd, loss, optimizer
  double fused = j["bytes_per_sample"]["fused"].get<double>(), unfused = j["bytes_per_sample"]["unfused"].get<double>();
  EXPECT_GT(fused, 784 * 4 * 2);  // at least the input read and the reconstruction written
  EXPECT_LT(fused, unfused);
  ASSERT_EQ(j["roofline"].size(), 2u);
  for (const auto& g : j["roofline"]) EXPECT_GT(g["step_us"].get<double>(), 0);
  r = run_ae({"plan", "--device", "cuda"}, dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("ESTIMATES"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 CUDA graph launch"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace ae::e2e
