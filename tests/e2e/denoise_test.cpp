// Denoising through the real `ae` binary (issue 10, item 1): --noise on train, plan and bench and
// in specs, recorded in the model file with its data range and shown by `ae info`; validation and
// scores on clean inputs; `ae corrupt` drawing training's bits; `ae reconstruct --reference`
// measuring a denoising model against the clean data; and every bad setting a one-line error
// naming the flag, with no output file.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <sstream>

#include "graph/spec.h"
#include "host/data/dataset.h"
#include "host/data/idx.h"
#include "host/data/npy.h"
#include "kernels/cpu/noise.h"
#include "runtime/model_file.h"
#include "tests/e2e/e2e_util.h"

namespace ae::e2e {
namespace {

using json = nlohmann::json;

const std::string SPEC = "16-8r-4-8r-16";

// Values in [0.25, 0.75], none zero (so a masked element is always a changed one), with the
// extremes present: the data range is exactly [0.25, 0.75].
Matrix synthetic(int64_t rows, int64_t cols) {
  Matrix m;
  m.rows = rows;
  m.cols = cols;
  m.data.resize(size_t(rows * cols));
  for (size_t i = 0; i < m.data.size(); ++i) m.data[i] = 0.25f + 0.5f * float((i * 7919) % 1001) / 1000.0f;
  return m;
}

// The number after `key` on the line of stdout that starts with `line`.
double figure(const std::string& out, const std::string& line, const std::string& key) {
  std::istringstream in(out);
  for (std::string l; std::getline(in, l);)
    if (l.rfind(line, 0) == 0) {
      const size_t at = l.find(key);
      if (at != std::string::npos) return std::stod(l.substr(at + key.size()));
    }
  ADD_FAILURE() << "no '" << line << "' line with '" << key << "' in:\n" << out;
  return NAN;
}

double mse(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += (double(a[i]) - double(b[i])) * (double(a[i]) - double(b[i]));
  return s / double(a.size());
}

class Denoise : public ::testing::Test {
 protected:
  ScratchDir dir;
  void SetUp() override { save_npy(x(), synthetic(64, 16)); }
  std::string x() const { return dir / "x.npy"; }
  std::vector<std::string> train(const std::string& out, const std::vector<std::string>& more) const {
    std::vector<std::string> a = {"train",        "--data", x(),         "--epochs", "2",       "--batch", "16",
                                  "--checkpoint", "none",   "--threads", "1",        "--quiet", "--out",   out};
    a.insert(a.end(), more.begin(), more.end());
    if (std::find(more.begin(), more.end(), "--val") == more.end()) a.push_back("--no-val");
    return a;
  }
};

// Each kind trains, and the file's spec holds it with its settings; the kinds that use a data range
// record the training data's (or keep the one given), and `ae info` shows the noise on its own line.
TEST_F(Denoise, EachKindTrainsAndTheModelRecordsItsSettings) {
  struct Case {
    std::vector<std::string> args;
    json noise;  // the model file's spec "noise"
  };
  const json data_range = {0.25, 0.75};
  const std::vector<Case> cases = {
      {{"--spec", SPEC, "--noise", "mask:0.3"}, {{"kind", "mask"}, {"p", 0.3}}},
      {{"--spec", SPEC, "--noise", "gaussian:0.1"}, {{"kind", "gaussian"}, {"sigma", 0.1}}},
      {{"--spec", SPEC, "--noise", "gaussian:0.1:clip"},
       {{"kind", "gaussian"}, {"sigma", 0.1}, {"clip", true}, {"range", data_range}}},
      {{"--spec", SPEC, "--noise", "saltpepper:0.05"}, {{"kind", "saltpepper"}, {"p", 0.05}, {"range", data_range}}},
      {{"--spec", SPEC, "--noise", "saltpepper:0.05:0:1"}, {{"kind", "saltpepper"}, {"p", 0.05}, {"range", {0, 1}}}},
      {{"--spec", SPEC + ":mask=0.2"}, {{"kind", "mask"}, {"p", 0.2}}},
      {{"--spec",
        R"({"input": 16, "encoder": [{"units": 8, "act": "relu"}, {"units": 4}], "decoder": [{"units": 8, "act": "relu"},)"
        R"( {"units": 16}], "noise": {"kind": "gaussian", "sigma": 0.2, "clip": true}})"},
       {{"kind", "gaussian"}, {"sigma", 0.2}, {"clip", true}, {"range", data_range}}},
  };
  const std::string model = dir / "m.st";
  for (const Case& c : cases) {
    SCOPED_TRACE(c.args.back());
    RunResult r = run_ae(train(model, c.args), dir);
    expect_success(r);
    const json spec = spec_json(model);
    EXPECT_EQ(spec.value("noise", json()), c.noise) << spec.dump();
    Noise n = parse_spec(spec.dump(), "model").noise;
    EXPECT_NE(r.out.find("final train loss (mse, inputs corrupted by " + n.to_string() + "): "), std::string::npos)
        << r.out;
    RunResult info = run_ae({"info", "--model", model}, dir);
    expect_success(info);
    EXPECT_NE(info.out.find("\nnoise: " + n.to_string() + " ("), std::string::npos) << info.out;
    EXPECT_NE(info.out.find("the targets are clean)"), std::string::npos) << info.out;
  }
  expect_success(run_ae(train(model, {"--spec", SPEC}), dir));
  EXPECT_FALSE(spec_json(model).contains("noise"));
  RunResult info = run_ae({"info", "--model", model}, dir);
  EXPECT_NE(info.out.find("\nnoise: none\n"), std::string::npos) << info.out;
}

// The clean input is the target and the measure: the validation loss the run reports, the
// reconstruction error against the clean file and the mean score of `ae score` are one figure.
TEST_F(Denoise, ValidationReconstructionAndScoresSeeCleanInputs) {
  const std::string model = dir / "m.st", log = dir / "log.jsonl", val_file = dir / "val.npy";
  fs::copy_file(x(), val_file);
  RunResult r =
      run_ae(train(model, {"--spec", SPEC, "--noise", "mask:0.5", "--val", val_file, "--log-json", log}), dir);
  expect_success(r);
  std::istringstream lines(read_text(log));
  std::string last;
  for (std::string line; std::getline(lines, line);) last = line;
  const double val = json::parse(last).at("val_loss").get<double>();
  const double reported = figure(r.out, "reconstruction error on", "rows): ");
  RunResult rec = run_ae({"reconstruct", "--model", model, "--data", x(), "--reference", x(), "--out", dir / "r.npy",
                          "--threads", "1", "--quiet"},
                         dir);
  expect_success(rec);
  EXPECT_EQ(figure(rec.out, "input ", "MSE "), 0.0) << rec.out;
  EXPECT_NE(rec.out.find("PSNR inf dB"), std::string::npos) << rec.out;
  const double recon = figure(rec.out, "reconstruction ", "MSE ");
  EXPECT_NEAR(recon, val, 1e-5 * val);
  EXPECT_NEAR(recon, reported, 1e-5 * val);
  expect_success(
      run_ae({"score", "--model", model, "--data", x(), "--out", dir / "s.csv", "--threads", "1", "--quiet"}, dir));
  std::istringstream scores(read_text(dir / "s.csv"));
  std::string line;
  std::getline(scores, line);  // header
  double sum = 0;
  int rows = 0;
  for (; std::getline(scores, line); ++rows) sum += std::stod(line.substr(line.find(',') + 1));
  ASSERT_EQ(rows, 64);
  EXPECT_NEAR(sum / rows, recon, 1e-5 * recon);
}

// `ae corrupt` draws the bits of training step 1 under --seed: the same file for a seed, another for
// another seed; mask zeroes close to P of the elements, saltpepper writes the data's extremes and a
// clipped gaussian stays inside the range.
TEST_F(Denoise, CorruptIsTrainingsGeneratorAndDeterministicPerSeed) {
  const Matrix clean = synthetic(400, 50);  // 20 000 elements: the mask fraction's σ is 0.0032
  save_npy(dir / "big.npy", clean);
  auto corrupt = [&](const std::string& noise, const std::string& seed, const std::string& out) {
    RunResult r = run_ae(
        {"corrupt", "--data", dir / "big.npy", "--noise", noise, "--seed", seed, "--out", dir / out, "--threads", "1"},
        dir);
    expect_success(r);
    return r;
  };
  RunResult r = corrupt("mask:0.3", "1", "a.npy");
  corrupt("mask:0.3", "1", "b.npy");
  corrupt("mask:0.3", "2", "c.npy");
  EXPECT_EQ(read_text(dir / "a.npy"), read_text(dir / "b.npy"));
  EXPECT_NE(read_text(dir / "a.npy"), read_text(dir / "c.npy"));
  const Matrix a = read_npy(dir / "a.npy");
  ASSERT_EQ(a.rows, 400);
  ASSERT_EQ(a.cols, 50);
  std::vector<float> want(clean.data.size());
  cpu::corrupt(parse_noise("mask:0.3", "test").params(), 1, 1, clean.data.data(), want.data(), int64_t(want.size()));
  EXPECT_TRUE(a.data == want) << "not the generator of training step 1";
  int64_t zeros = 0;
  for (size_t i = 0; i < a.data.size(); ++i) {
    zeros += a.data[i] == 0.f;
    ASSERT_TRUE(a.data[i] == 0.f || a.data[i] == clean.data[i]) << i;
  }
  const double frac = double(zeros) / double(a.data.size());
  EXPECT_NEAR(frac, 0.3, 0.015);
  EXPECT_EQ(r.out.rfind("corrupted 400 rows × 50 of " + dir / "big.npy" + " with mask:0.3 (seed 1): ", 0), 0u) << r.out;
  EXPECT_NEAR(figure(r.out, "corrupted", "(seed 1): "), 100 * frac, 0.01) << r.out;

  r = corrupt("saltpepper:0.1", "3", "sp.csv");
  EXPECT_NE(r.out.find("with saltpepper:0.1:0.25:0.75 (seed 3)"), std::string::npos) << r.out;
  const Matrix sp = load_dataset(dir / "sp.csv").features;
  int64_t salt = 0, pepper = 0;
  for (size_t i = 0; i < sp.data.size(); ++i) {
    if (sp.data[i] == clean.data[i]) continue;  // CSV floats round-trip exactly
    salt += sp.data[i] == 0.75f;
    pepper += sp.data[i] == 0.25f;
    ASSERT_TRUE(sp.data[i] == 0.75f || sp.data[i] == 0.25f) << i << ": " << sp.data[i];
  }
  EXPECT_GT(salt, 500);
  EXPECT_GT(pepper, 500);

  for (const auto& [noise, lo, hi] :
       {std::tuple{"gaussian:0.3:clip", 0.25f, 0.75f}, std::tuple{"gaussian:0.3:clip:0.3:0.6", 0.3f, 0.6f}}) {
    corrupt(noise, "1", "g.npy");
    const Matrix g = read_npy(dir / "g.npy");
    EXPECT_EQ(*std::min_element(g.data.begin(), g.data.end()), lo) << noise;
    EXPECT_EQ(*std::max_element(g.data.begin(), g.data.end()), hi) << noise;
  }
}

// The denoising result in two commands: a model trained with mask noise on 2 000 Fashion-MNIST
// images reconstructs corrupted test images closer to the clean ones than the corrupted input is;
// both figures are printed, the input's being the MSE between the two files.
TEST_F(Denoise, ReconstructAgainstTheCleanReferenceBeatsTheNoisyInput) {
  const std::string model = dir / "dae.st", noisy = dir / "noisy.npy";
  expect_success(run_ae({"train",
                         "--spec",
                         "784-128r-32-128r-784s",
                         "--noise",
                         "mask:0.3",
                         "--data",
                         TRAIN_IMAGES,
                         "--max-rows",
                         "2000",
                         "--epochs",
                         "4",
                         "--batch",
                         "64",
                         "--lr",
                         "0.003",
                         "--no-val",
                         "--checkpoint",
                         "none",
                         "--quiet",
                         "--threads",
                         "1",
                         "--out",
                         model},
                        dir));
  expect_success(run_ae({"corrupt", "--data", TEST_IMAGES, "--max-rows", "500", "--noise", "mask:0.3", "--seed", "7",
                         "--out", noisy, "--threads", "1"},
                        dir));
  RunResult r = run_ae({"reconstruct", "--model", model, "--data", noisy, "--reference", TEST_IMAGES, "--max-rows",
                        "500", "--out", dir / "recon.npy", "--threads", "1", "--quiet"},
                       dir);
  expect_success(r);
  EXPECT_NE(r.out.find("against --reference " + TEST_IMAGES + " (500 rows × 784; PSNR peak 1, values in [0, 1]):"),
            std::string::npos)
      << r.out;
  const double in_mse = figure(r.out, "input ", "MSE "), in_psnr = figure(r.out, "input ", "PSNR ");
  const double out_mse = figure(r.out, "reconstruction ", "MSE "), out_psnr = figure(r.out, "reconstruction ", "PSNR ");
  EXPECT_NEAR(in_mse, mse(read_npy(noisy).data, read_idx_matrix(TEST_IMAGES, 500).data), 1e-6);
  EXPECT_NEAR(out_mse, mse(read_npy(dir / "recon.npy").data, read_idx_matrix(TEST_IMAGES, 500).data), 1e-6);
  EXPECT_NEAR(in_psnr, -10 * std::log10(in_mse), 0.01);
  EXPECT_NEAR(out_psnr, -10 * std::log10(out_mse), 0.01);
  EXPECT_LT(out_mse, 0.8 * in_mse) << r.out;
}

// --init keeps the model's noise, --noise replaces it (the new range from the new training), none
// removes it; a spec with its own noise beside --noise is refused; plan and bench take --noise.
TEST_F(Denoise, InitPlanAndBenchTakeTheFlag) {
  const std::string m1 = dir / "m1.st", m2 = dir / "m2.st";
  expect_success(run_ae(train(m1, {"--spec", SPEC + ":saltpepper=0.1,0,2"}), dir));
  expect_success(run_ae(train(m2, {"--init", m1, "--spec", SPEC}), dir));
  EXPECT_EQ(spec_json(m2)["noise"], json({{"kind", "saltpepper"}, {"p", 0.1}, {"range", {0, 2}}}));
  expect_success(run_ae(train(m2, {"--init", m1, "--noise", "saltpepper:0.2"}), dir));
  EXPECT_EQ(spec_json(m2)["noise"], json({{"kind", "saltpepper"}, {"p", 0.2}, {"range", {0.25, 0.75}}}));
  expect_success(run_ae(train(m2, {"--init", m1, "--noise", "none"}), dir));
  EXPECT_FALSE(spec_json(m2).contains("noise"));
  // A refitted input scale: the recorded range was in the old one, so the new training records it
  // again (minmax maps the data onto [0, 1]); an unchanged scale keeps it.
  RunResult refit = run_ae(train(m2, {"--init", m1, "--normalize", "minmax"}), dir);
  expect_success(refit);
  EXPECT_NE(refit.err.find("the noise's data range [0, 2] is recorded again from --data"), std::string::npos) << refit.err;
  EXPECT_EQ(spec_json(m2)["noise"], json({{"kind", "saltpepper"}, {"p", 0.1}, {"range", {0, 1}}}));
  RunResult same = run_ae(train(dir / "m3.st", {"--init", m1, "--normalize", "none"}), dir);
  expect_success(same);
  EXPECT_EQ(same.err.find("recorded again"), std::string::npos) << same.err;
  EXPECT_EQ(spec_json(dir / "m3.st")["noise"], json({{"kind", "saltpepper"}, {"p", 0.1}, {"range", {0, 2}}}));

  for (const std::string cmd : {"train", "plan", "bench"}) {
    std::vector<std::string> args = {cmd, "--spec", SPEC + ":mask=0.1", "--noise", "mask:0.2"};
    if (cmd == "train") args.insert(args.end(), {"--data", x(), "--no-val", "--out", dir / "o.st"});
    RunResult r = run_ae(args, dir);
    EXPECT_EQ(r.exit_code, 1) << cmd;
    EXPECT_EQ(r.err,
              "ae: error: --noise mask:0.2 and the spec's own noise (" + SPEC + ":mask=0.1) both set it; give one\n");
  }
  RunResult plan = run_ae({"plan", "--spec", SPEC, "--noise", "gaussian:0.1:clip"}, dir);
  expect_success(plan);
  EXPECT_EQ(plan.out.rfind("spec: " + SPEC + ":gaussian=0.1,clip ", 0), 0u) << plan.out;
  RunResult bench = run_ae({"bench", "--spec", SPEC, "--noise", "mask:0.3", "--steps", "2", "--warmup", "0", "--runs",
                            "1", "--batch", "8", "--threads", "1"},
                           dir);
  expect_success(bench);
  EXPECT_EQ(bench.out.rfind("ae bench: " + SPEC + ":mask=0.3, ", 0), 0u) << bench.out;
}

// P outside [0, 1), a negative σ, an unknown kind or a malformed value: exit 1, one line naming
// --noise, and nothing written, on every command that takes the flag.
TEST_F(Denoise, BadSettingsAreOneLineErrorsNamingTheFlag) {
  auto refused = [&](const std::vector<std::string>& args, const std::string& prefix) {
    const auto before = dir.list();
    RunResult r = run_ae(args, dir);
    EXPECT_EQ(r.exit_code, 1) << r.command;
    EXPECT_EQ(r.err.rfind(prefix, 0), 0u) << r.command << "\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(dir.list(), before) << r.command;
    return r;
  };
  for (const std::string bad : {"mask:1", "mask:-0.1", "mask:1.5", "saltpepper:1", "gaussian:-0.5", "blur:0.3", "mask",
                                "mask:", "mask:abc", "mask:nan", "gaussian:inf", "saltpepper:0.1:clip",
                                "gaussian:0.1:clip:1:0", "gaussian:0.1:clip:0", "mask:0.1:0:1"}) {
    SCOPED_TRACE(bad);
    refused({"train", "--noise", bad, "--steps", "0", "--no-val", "--out", dir / "m.st"}, "ae: error: --noise");
    refused({"corrupt", "--data", x(), "--noise", bad, "--out", dir / "y.npy"}, "ae: error: --noise");
    refused({"plan", "--noise", bad}, "ae: error: --noise");
  }
  RunResult r =
      refused({"train", "--noise", "mask:1", "--steps", "0", "--no-val", "--out", dir / "m.st"}, "ae: error: --noise");
  EXPECT_NE(r.err.find("must lie in [0, 1)"), std::string::npos) << r.err;
  r = refused({"train", "--noise", "gaussian:-1", "--steps", "0", "--no-val", "--out", dir / "m.st"},
              "ae: error: --noise");
  EXPECT_NE(r.err.find("must be ≥ 0"), std::string::npos) << r.err;
  r = refused({"corrupt", "--data", x(), "--noise", "blur:0.3", "--out", dir / "y.npy"}, "ae: error: --noise");
  EXPECT_NE(r.err.find("unknown noise"), std::string::npos) << r.err;
  refused({"corrupt", "--data", x(), "--noise", "none", "--out", dir / "y.npy"},
          "ae: error: --noise none: nothing to corrupt");
  refused({"corrupt", "--data", x(), "--noise", "mask:0.3", "--out", x()}, "ae: error: --out and --data both name");

  // A reference that is not the clean copy of --data: both files named, nothing written.
  const std::string model = dir / "m.st";
  expect_success(run_ae(train(model, {"--spec", SPEC, "--steps", "0"}), dir));
  save_npy(dir / "short.npy", synthetic(63, 16));
  save_npy(dir / "narrow.npy", synthetic(64, 15));
  for (const std::string ref : {dir / "short.npy", dir / "narrow.npy"}) {
    r = refused({"reconstruct", "--model", model, "--data", x(), "--reference", ref, "--out", dir / "r.npy"},
                "ae: error: --reference " + ref);
    EXPECT_NE(r.err.find("--data " + x() + " is 64 rows × 16"), std::string::npos) << r.err;
  }
  refused({"reconstruct", "--model", model, "--data", x(), "--reference", dir / "none.npy", "--out", dir / "r.npy"},
          "ae: error: --reference " + dir / "none.npy");
}

}  // namespace
}  // namespace ae::e2e
