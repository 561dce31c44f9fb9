// What Graph v2 shows at the command line: files of the previous release load and give the same
// outputs, and untied models are still written in the same format; tied weights (--tied) store the
// shared weights once and refuse specs that do not mirror; a penalty term (--sparsity l1:λ) is
// reported apart from the reconstruction on the epoch lines, in --log-json and in the model history.
#include <gtest/gtest.h>

#include <set>

#include <nlohmann/json.hpp>
#include <filesystem>
#include <sstream>

#include "runtime/model_file.h"
#include "tests/e2e/e2e_util.h"

namespace ae::e2e {
namespace {

const std::string RELEASE = AE_SOURCE_DIR "/tests/data/release-e020af5/";

TEST(FormatCompat, PreviousReleaseFilesGiveBitIdenticalOutputs) {
  ScratchDir dir;
  for (const char* cmd : {"reconstruct", "encode"}) {
    const std::string out = dir / (std::string(cmd) + ".npy");
    expect_success(run_ae({cmd, "--model", RELEASE + "model.safetensors", "--data", RELEASE + "data.csv", "--out", out, "--threads", "1"}, dir));
    const std::string want = read_text(RELEASE + (std::string(cmd) == "encode" ? "codes.npy" : "recon.npy"));
    ASSERT_FALSE(want.empty());
    EXPECT_TRUE(read_text(out) == want) << cmd << " of the previous release's model differs from its own output";
  }
}

TEST(FormatCompat, UntiedModelsAreWrittenAsThePreviousReleaseWroteThem) {
  ScratchDir dir;
  const std::string out = dir / "model.safetensors";
  expect_success(run_ae({"train", "--spec", "6-5t-3-5r-6s", "--data", RELEASE + "data.csv", "--steps", "7", "--batch", "8",
                         "--no-val", "--out", out, "--quiet", "--threads", "1", "--checkpoint", "none"},
                        dir));
  ModelFile now = load_model_file(out), then = load_model_file(RELEASE + "model.safetensors");
  ASSERT_EQ(now.tensors.size(), then.tensors.size());
  for (size_t i = 0; i < now.tensors.size(); ++i) {
    EXPECT_EQ(now.tensors[i].name, then.tensors[i].name);
    EXPECT_EQ(now.tensors[i].shape, then.tensors[i].shape) << now.tensors[i].name;
    EXPECT_EQ(now.tensors[i].data, then.tensors[i].data) << now.tensors[i].name;  // bit for bit
  }
  for (const auto& [key, value] : then.metadata)
    if (key != "ae.data") EXPECT_EQ(now.metadata.at(key), value) << key;  // ae.data names the data file's path
  // Keys added since that release, which its reader ignores (it reads __metadata__ by name):
  // ae.code_stats, the codes' training medians for `ae hash`; ae.precision, the training precision;
  // ae.save_dtype, the weights' stored dtype (fp32 here, so the tensors stay F32 as that reader needs).
  const std::set<std::string> added = {"ae.code_stats", "ae.precision", "ae.save_dtype"};
  for (const auto& [key, value] : now.metadata)
    if (!then.metadata.count(key)) EXPECT_EQ(added.count(key), 1u) << key << ": a metadata key the previous release did not write";
  EXPECT_EQ(now.metadata.at("ae.save_dtype"), "fp32");
}

TEST(Tied, StoresSharedWeightsOnceAndInfoShowsTheTie) {
  ScratchDir dir;
  const std::string model = dir / "tied.safetensors";
  expect_success(run_ae({"train", "--tied", "--spec", "6-4t-2-4t-6s", "--data", RELEASE + "data.csv", "--steps", "0",
                         "--no-val", "--out", model, "--quiet", "--checkpoint", "none"},
                        dir));
  ModelFile f = load_model_file(model);
  std::vector<std::string> names;
  for (const auto& t : f.tensors) names.push_back(t.name);
  EXPECT_EQ(names, (std::vector<std::string>{"encoder.0.weight", "encoder.0.bias", "encoder.2.weight", "encoder.2.bias",
                                             "decoder.0.bias", "decoder.2.bias"}));
  EXPECT_NE(f.metadata.at("ae.spec").find("\"tied\":true"), std::string::npos) << f.metadata.at("ae.spec");
  RunResult info = run_ae({"info", "--model", model}, dir);
  expect_success(info);
  EXPECT_NE(info.out.find("decoder.2.weight   tied: encoder.0.weight transposed, [6, 4]"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("parameters: " + std::to_string(4 * 6 + 4 + 2 * 4 + 2 + 4 + 6)), std::string::npos) << info.out;
}

TEST(Tied, RefusesASpecThatDoesNotMirrorNamingTheLayer) {
  ScratchDir dir;
  RunResult r = run_ae({"train", "--tied", "--spec", "12-6t-3-5t-12s", "--steps", "0", "--no-val", "--out", dir / "m.st"}, dir);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("decoder[0] is 5 wide where its mirror encoder[1] takes 6 inputs"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(fs::exists(dir / "m.st"));
  r = run_ae({"plan", "--spec", "{\"input\": 4, \"encoder\": [2], \"decoder\": [3, 4], \"tied\": true}"}, dir);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("as many decoder layers as encoder layers"), std::string::npos) << r.err;
}

TEST(Sparsity, PenaltyIsReportedApartFromTheReconstruction) {
  ScratchDir dir;
  const std::string model = dir / "sparse.safetensors", log = dir / "log.jsonl";
  RunResult r = run_ae({"train", "--spec", "6-8r-6s", "--sparsity", "l1:0.01", "--data", RELEASE + "data.csv", "--epochs", "2",
                        "--batch", "8", "--no-val", "--out", model, "--log-json", log, "--checkpoint", "none"},
                       dir);
  expect_success(r);
  EXPECT_NE(r.err.find("(recon "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(", sparsity "), std::string::npos) << r.err;
  std::istringstream lines(read_text(log));
  int n = 0;
  for (std::string line; std::getline(lines, line); ++n) {
    auto j = nlohmann::json::parse(line);
    ASSERT_TRUE(j.contains("terms")) << line;
    const double recon = j["terms"]["recon"].get<double>(), sparsity = j["terms"]["sparsity"].get<double>();
    EXPECT_GT(sparsity, 0);
    EXPECT_NEAR(j["train_loss"].get<double>(), recon + 0.01 * sparsity, 1e-6 * j["train_loss"].get<double>()) << line;
  }
  EXPECT_EQ(n, 2);
  ModelFile f = load_model_file(model);
  auto history = nlohmann::json::parse(f.metadata.at("ae.history"));
  ASSERT_EQ(history.size(), 2u);
  EXPECT_TRUE(history[1]["terms"].contains("sparsity")) << history.dump();
  EXPECT_NE(f.metadata.at("ae.spec").find("\"sparsity\":{\"kind\":\"l1\",\"lambda\":0.01}"), std::string::npos);
  // One term: no terms anywhere, as before.
  r = run_ae({"train", "--spec", "6-8r-6s", "--data", RELEASE + "data.csv", "--epochs", "1", "--batch", "8", "--no-val",
              "--out", model, "--log-json", log, "--checkpoint", "none"},
             dir);
  expect_success(r);
  EXPECT_EQ(r.err.find("(recon "), std::string::npos) << r.err;
  EXPECT_EQ(read_text(log).find("terms"), std::string::npos);
}

TEST(Sparsity, InitKeepsOrReplacesThePenaltyAndInfoShowsTheTerms) {
  ScratchDir dir;
  const std::string sparse = dir / "sparse.st", plain = dir / "plain.st";
  expect_success(run_ae({"train", "--spec", "6-8r-6s:l1=0.01", "--data", RELEASE + "data.csv", "--epochs", "1", "--batch", "8",
                         "--no-val", "--out", sparse, "--checkpoint", "none", "--quiet"},
                        dir));
  RunResult info = run_ae({"info", "--model", sparse}, dir);
  expect_success(info);
  EXPECT_NE(info.out.find("  recon "), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("  sparsity "), std::string::npos) << info.out;
  // The same layers with --spec keep the model's penalty; --sparsity none removes it.
  expect_success(run_ae({"train", "--init", sparse, "--spec", "6-8r-6s", "--sparsity", "none", "--data", RELEASE + "data.csv",
                         "--steps", "1", "--batch", "8", "--no-val", "--out", plain, "--checkpoint", "none", "--quiet"},
                        dir));
  EXPECT_EQ(load_model_file(plain).metadata.at("ae.spec").find("sparsity"), std::string::npos);
  // --tied on an untied model names --tied; --sparsity beside a spec that has one is refused.
  RunResult r = run_ae({"train", "--init", plain, "--tied", "--data", RELEASE + "data.csv", "--steps", "1", "--no-val",
                        "--out", dir / "x.st"},
                       dir);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--tied differs from the spec of --init"), std::string::npos) << r.err;
  r = run_ae({"plan", "--spec", "6-8r-6s:l1=0.1", "--sparsity", "l1:0.2"}, dir);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("both set it"), std::string::npos) << r.err;
}

TEST(Sparsity, BadSettingsAreOneLineErrorsNamingTheFlag) {
  ScratchDir dir;
  for (const char* bad : {"l2:0.1", "l1", "l1:-1", "l1:abc", "l1:nan", "kl:0.05", "kl:0:3", "kl:1:3", "kl:0.05:-2",
                          "kl:0.05:3"}) {  // the last: the default spec's code is linear, not sigmoid
    RunResult r = run_ae({"train", "--sparsity", bad, "--steps", "0", "--no-val", "--out", dir / "m.st"}, dir);
    EXPECT_EQ(r.exit_code, 1) << bad;
    EXPECT_EQ(r.err.rfind("ae: error: --sparsity", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir / "m.st")) << bad;
  }
  RunResult r = run_ae({"train", "--sparsity", "kl:0.05:3", "--steps", "0", "--no-val", "--out", dir / "m.st"}, dir);
  EXPECT_NE(r.err.find("sigmoid code layer"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("encoder[1] (32 units) is linear"), std::string::npos) << r.err;
}

// β · Σ_j KL(ρ ‖ ρ̂_j) on a sigmoid code: reported as its own term, the divergence itself (≥ 0), and
// recorded in the model file's spec.
TEST(Sparsity, KlPenaltyIsTheDivergenceOfTheBatchMeans) {
  ScratchDir dir;
  const std::string model = dir / "kl.safetensors", log = dir / "log.jsonl";
  RunResult r = run_ae({"train", "--spec", "6-8r-4s-8r-6s", "--sparsity", "kl:0.1:0.5", "--data", RELEASE + "data.csv",
                        "--epochs", "3", "--batch", "8", "--no-val", "--out", model, "--log-json", log, "--checkpoint", "none"},
                       dir);
  expect_success(r);
  EXPECT_NE(r.err.find(", sparsity "), std::string::npos) << r.err;
  std::istringstream lines(read_text(log));
  int n = 0;
  for (std::string line; std::getline(lines, line); ++n) {
    auto j = nlohmann::json::parse(line);
    const double recon = j["terms"]["recon"].get<double>(), kl = j["terms"]["sparsity"].get<double>();
    EXPECT_GT(kl, 0) << line;  // sigmoid means start near 0.5, far from ρ = 0.1
    EXPECT_NEAR(j["train_loss"].get<double>(), recon + 0.5 * kl, 1e-6 * j["train_loss"].get<double>()) << line;
  }
  EXPECT_EQ(n, 3);
  EXPECT_NE(load_model_file(model).metadata.at("ae.spec").find(R"("sparsity":{"beta":0.5,"kind":"kl","rho":0.1})"),
            std::string::npos);
}

}  // namespace
}  // namespace ae::e2e
