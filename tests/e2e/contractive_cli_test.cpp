// The contractive penalty through the real `ae` binary: --contractive on train recorded in the
// model file's spec and shown by `ae info`, its term in every --log-json line and in the history,
// decreasing over a short Fashion-MNIST run; --init keeps it and --contractive 0 removes it; a spec
// with its own :contractive= beside the flag, and every bad value, is a one-line error naming the
// flag with nothing written; `ae plan` prints the penalty's cost.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/model_file.h"
#include "tests/e2e/e2e_util.h"

namespace ae::e2e {
namespace {

using json = nlohmann::json;

const std::string SPEC = "784-32s-784s";

// 512 Fashion-MNIST images, batch 32: 16 steps an epoch, one --log-json line every 4 steps.
std::vector<std::string> train_args(const std::string& out, const std::vector<std::string>& more) {
  std::vector<std::string> a = {"train",   "--data",       TRAIN_IMAGES, "--max-rows", "512",
                                "--batch", "32",           "--no-val",   "--threads",  "1",
                                "--quiet", "--checkpoint", "none",       "--out",      out};
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

// λ in the file's spec, the "contractive" term on every log line and in the history (positive,
// falling from the first line to the last), and the total being reconstruction + λ·penalty.
TEST(ContractiveCli, TrainRecordsTheWeightAndReportsADecreasingTerm) {
  ScratchDir dir;
  const std::string model = dir / "cae.st", log = dir / "log.jsonl";
  RunResult r = run_ae(train_args(model, {"--spec", SPEC, "--contractive", "0.1", "--epochs", "2", "--log-every", "4",
                                          "--log-json", log}),
                       dir);
  expect_success(r);
  EXPECT_NE(r.out.find(" + contractive penalty"), std::string::npos) << r.out;
  const json spec = spec_json(model);
  EXPECT_EQ(spec.value("contractive", json()), json(0.1)) << spec.dump();

  const std::vector<json> lines = json_lines(log);
  ASSERT_EQ(lines.size(), 8u) << read_text(log);
  for (const json& j : lines) {
    ASSERT_TRUE(j.contains("terms") && j["terms"].contains("contractive") && j["terms"].contains("recon")) << j.dump();
    const double recon = j["terms"]["recon"].get<double>(), penalty = j["terms"]["contractive"].get<double>();
    EXPECT_GT(penalty, 0) << j.dump();
    const double total = j["train_loss"].get<double>();
    EXPECT_NEAR(total, recon + 0.1 * penalty, 1e-6 * total) << j.dump();
  }
  const double first = lines.front()["terms"]["contractive"].get<double>();
  const double last = lines.back()["terms"]["contractive"].get<double>();
  EXPECT_LT(last, 0.9 * first) << "the penalty term did not fall: " << first << " → " << last;
  std::printf("[ contractive ] term %.5g at the first log line, %.5g at the last\n", first, last);
  std::fflush(stdout);  // before run_ae forks: the child would write the buffered line again

  const json history = json::parse(load_model_file(model).metadata.at("ae.history"));
  ASSERT_FALSE(history.empty());
  EXPECT_TRUE(history.back()["terms"].contains("contractive")) << history.dump();

  RunResult info = run_ae({"info", "--model", model}, dir);
  expect_success(info);
  EXPECT_NE(info.out.find("spec: " + SPEC + ":contractive=0.1 "), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("\ncontractive: λ 0.1 "), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("  contractive "), std::string::npos) << info.out;  // the history's term column
}

// --init keeps the model's weight, --contractive replaces it and 0 removes it; a model without it
// says so in `ae info`.
TEST(ContractiveCli, InitKeepsTheWeightAndZeroRemovesIt) {
  ScratchDir dir;
  const std::string m1 = dir / "m1.st", m2 = dir / "m2.st";
  expect_success(run_ae(train_args(m1, {"--spec", SPEC + ":contractive=0.1", "--steps", "2"}), dir));
  EXPECT_EQ(spec_json(m1).value("contractive", json()), json(0.1));
  expect_success(run_ae(train_args(m2, {"--init", m1, "--steps", "2"}), dir));
  EXPECT_EQ(spec_json(m2).value("contractive", json()), json(0.1)) << spec_json(m2).dump();
  expect_success(run_ae(train_args(m2, {"--init", m1, "--spec", SPEC, "--steps", "2"}), dir));
  EXPECT_EQ(spec_json(m2).value("contractive", json()), json(0.1)) << "the same layers as --spec keep it";
  expect_success(run_ae(train_args(m2, {"--init", m1, "--contractive", "0.25", "--steps", "2"}), dir));
  EXPECT_EQ(spec_json(m2).value("contractive", json()), json(0.25));
  expect_success(run_ae(train_args(m2, {"--init", m1, "--contractive", "0", "--steps", "2"}), dir));
  EXPECT_FALSE(spec_json(m2).contains("contractive")) << spec_json(m2).dump();
  RunResult info = run_ae({"info", "--model", m2}, dir);
  expect_success(info);
  EXPECT_NE(info.out.find("\ncontractive: none\n"), std::string::npos) << info.out;
  EXPECT_EQ(info.out.find(":contractive="), std::string::npos) << info.out;
}

// Bad values and a doubled setting: exit 1, one line on stderr naming --contractive, no file.
TEST(ContractiveCli, BadSettingsAreOneLineErrorsNamingTheFlag) {
  ScratchDir dir;
  auto refused = [&](const std::vector<std::string>& args, const std::string& prefix) {
    const auto before = dir.list();
    RunResult r = run_ae(args, dir);
    EXPECT_EQ(r.exit_code, 1) << r.command;
    EXPECT_EQ(r.err.rfind(prefix, 0), 0u) << r.command << "\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(dir.list(), before) << r.command;
    return r;
  };
  const std::string model = dir / "m.st";
  for (const std::string bad : {"-0.1", "-1e-9", "nan", "inf", "-inf", "abc", "0.1x", "1e999", ""}) {
    SCOPED_TRACE("'" + bad + "'");
    RunResult r =
        refused(train_args(model, {"--spec", SPEC, "--contractive", bad, "--steps", "1"}), "ae: error: --contractive");
    EXPECT_NE(r.err.find("must be a finite number ≥ 0"), std::string::npos) << r.err;
    refused({"plan", "--spec", SPEC, "--contractive", bad}, "ae: error: --contractive");
    refused({"bench", "--spec", SPEC, "--contractive", bad, "--steps", "1", "--runs", "1", "--threads", "1"},
            "ae: error: --contractive");
  }
  // The spec's own weight beside the flag, on every command that takes it (0 included: it is a setting).
  for (const std::string cmd : {"train", "plan", "bench"})
    for (const std::string flag : {"0.2", "0"}) {
      std::vector<std::string> args = {cmd, "--spec", SPEC + ":contractive=0.1", "--contractive", flag};
      if (cmd == "train") args = train_args(model, {"--spec", SPEC + ":contractive=0.1", "--contractive", flag});
      RunResult r = refused(args, "ae: error: --contractive " + flag + " and the spec's own contractive weight (");
      EXPECT_NE(r.err.find(SPEC + ":contractive=0.1) both set it; give one"), std::string::npos) << r.err;
    }
  // In the spec itself: the compact option and the JSON field name the spec.
  RunResult r = refused({"plan", "--spec", SPEC + ":contractive=-1"}, "ae: error: ");
  EXPECT_NE(r.err.find("contractive weight"), std::string::npos) << r.err;
  r = refused({"plan", "--spec",
               R"({"input": 784, "encoder": [{"units": 32, "act": "sigmoid"}], "decoder": [{"units": 784,)"
               R"( "act": "sigmoid"}], "contractive": "0.1"})"},
              "ae: error: ");
  EXPECT_NE(r.err.find("'contractive' must be a number"), std::string::npos) << r.err;
}

// `ae plan` reports what the penalty costs: its ops and MFLOP per sample, apart from the rest.
TEST(ContractiveCli, PlanPrintsThePenaltysCost) {
  ScratchDir dir;
  for (const std::string spec : {SPEC, std::string("784-128s-32s-128s-784s")}) {
    SCOPED_TRACE(spec);
    RunResult r = run_ae({"plan", "--spec", spec, "--contractive", "0.1"}, dir);
    expect_success(r);
    EXPECT_EQ(r.out.rfind("spec: " + spec + ":contractive=0.1 ", 0), 0u) << r.out;
    const size_t at = r.out.find("  contractive penalty: ");
    ASSERT_NE(at, std::string::npos) << r.out;
    const std::string line = r.out.substr(at, r.out.find('\n', at) - at);
    EXPECT_NE(line.find(" op(s) of its own, "), std::string::npos) << line;
    EXPECT_NE(line.find(" MFLOP per sample at batch "), std::string::npos) << line;
    const double mflop = std::stod(line.substr(line.find(" of its own, ") + 13));
    EXPECT_GT(mflop, 0) << line;
    RunResult plain = run_ae({"plan", "--spec", spec}, dir);
    expect_success(plain);
    EXPECT_EQ(plain.out.find("contractive"), std::string::npos) << plain.out;
  }
}

}  // namespace
}  // namespace ae::e2e
