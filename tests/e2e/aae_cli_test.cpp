// Adversarial autoencoders through the real `ae` binary: --adversarial trains in three phases whose
// terms (recon, d_real, d_fake, gen) reach every log line and the history, the file holds the
// discriminator (values only, checkpoints every optimizer state), the codes end nearer the prior
// than a plain autoencoder's, ae plan shows each phase, ae sample decodes prior draws, and every bad
// setting is a one-line error naming the flag or field, with nothing written.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "host/data/npy.h"
#include "runtime/model_file.h"
#include "tests/e2e/e2e_util.h"

namespace ae::e2e {
namespace {

using json = nlohmann::json;

const std::string LAYERS = "784-64r-8-64r-784s";
const std::string D = "8-64r-64r-1";

// Fashion-MNIST rows, batch 64, one thread (bit-reproducible).
std::vector<std::string> train_args(const std::string& out, const std::string& rows, const std::vector<std::string>& more) {
  std::vector<std::string> a = {"train",  "--data", TRAIN_IMAGES, "--max-rows", rows, "--batch", "64",          "--no-val",
                                "--loss", "bce",    "--threads",  "1",          "--quiet", "--checkpoint", "none", "--out", out};
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

// Σ_j KL(N(m_j, v_j) ‖ N(0, 1)) of the codes' per-unit mean and variance: 0 when every unit has the
// standard normal's first two moments.
double kl_to_standard_normal(const Matrix& z) {
  double kl = 0;
  for (int64_t j = 0; j < z.cols; ++j) {
    double s = 0, s2 = 0;
    for (int64_t r = 0; r < z.rows; ++r) s += z.data[size_t(r * z.cols + j)], s2 += double(z.data[size_t(r * z.cols + j)]) * z.data[size_t(r * z.cols + j)];
    const double m = s / double(z.rows), v = s2 / double(z.rows) - m * m;
    kl += 0.5 * (v + m * m - 1 - std::log(v));
  }
  return kl;
}

// Every log line carries the four terms; the train loss is the reconstruction's (what validation
// measures); the file holds discriminator.N.* but no optimizer state; ae info says what it is.
TEST(AaeCli, TrainReportsEveryPhasesTermsAndTheFileHoldsTheDiscriminator) {
  ScratchDir dir;
  const std::string model = dir / "aae.st", log = dir / "log.jsonl", ckpt = dir / "aae.ckpt";
  std::vector<std::string> args = train_args(model, "512", {"--spec", LAYERS, "--adversarial", D, "--d-lr", "2e-4", "--epochs",
                                                            "2", "--log-every", "2", "--log-json", log});
  args[std::find(args.begin(), args.end(), "--checkpoint") - args.begin() + 1] = ckpt;
  RunResult r = run_ae(args, dir);
  expect_success(r);
  EXPECT_NE(r.out.find("final train loss (bce reconstruction): "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("adversarial terms: d_real "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("codes of "), std::string::npos) << r.out;
  const std::vector<json> lines = json_lines(log);
  ASSERT_EQ(lines.size(), 8u) << read_text(log);
  for (const json& j : lines) {
    ASSERT_TRUE(j.contains("terms")) << j.dump();
    for (const char* t : {"recon", "d_real", "d_fake", "gen"}) {
      ASSERT_TRUE(j["terms"].contains(t)) << t << " in " << j.dump();
      EXPECT_GT(j["terms"][t].get<double>(), 0) << t << " in " << j.dump();
    }
    EXPECT_EQ(j["terms"]["recon"], j["train_loss"]) << j.dump();
  }
  const json spec = spec_json(model);
  EXPECT_EQ(spec["adversarial"], (json{{"discriminator", D}, {"prior", "gaussian"}})) << spec.dump();
  const ModelFile f = load_model_file(model);
  const std::vector<std::pair<std::string, std::vector<int64_t>>> want = {
      {"discriminator.0.weight", {64, 8}}, {"discriminator.0.bias", {64}}, {"discriminator.2.weight", {64, 64}},
      {"discriminator.4.weight", {1, 64}}, {"discriminator.4.bias", {1}}};
  for (const auto& [name, shape] : want) {
    const NamedTensor* t = f.find(name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(t->shape, shape) << name;
  }
  for (const NamedTensor& t : f.tensors) EXPECT_NE(t.name.rfind("optimizer.", 0), 0u) << t.name;
  const ModelFile c = load_model_file(ckpt);  // the checkpoint: all three optimizers' state
  EXPECT_NE(c.find("optimizer.encoder.0.weight.0"), nullptr);
  EXPECT_NE(c.find("optimizer.g2.encoder.0.weight.0"), nullptr);
  EXPECT_NE(c.find("optimizer.discriminator.0.weight.1"), nullptr);
  RunResult info = run_ae({"info", "--model", model}, dir);
  expect_success(info);
  EXPECT_NE(info.out.find("spec: " + LAYERS + ":adversarial=" + D + " "), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("\nadversarial: discriminator " + D + " on the code, gaussian prior"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("discriminator.4.weight [1, 64]"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("d_fake "), std::string::npos) << "the history's terms: " << info.out;
  EXPECT_NE(info.out.find("\"lr\":0.0002"), std::string::npos) << "the discriminator's rate in the optimizer record: " << info.out;
}

// The point of the discriminator: after the same training, the codes' per-unit moments are much
// nearer N(0, 1) than a plain autoencoder's (measured at 10.7 against 60 nats; 320 steps, ~1 s each).
TEST(AaeCli, CodesEndNearerThePriorThanAPlainAutoencoders) {
  ScratchDir dir;
  double kl[2];
  for (int adversarial = 0; adversarial < 2; ++adversarial) {
    const std::string model = dir / ("m" + std::to_string(adversarial) + ".st"), codes = dir / "z.npy";
    std::vector<std::string> more = {"--spec", LAYERS, "--epochs", "10"};
    if (adversarial) more.insert(more.end(), {"--adversarial", D});
    expect_success(run_ae(train_args(model, "2048", more), dir));
    expect_success(run_ae({"encode", "--model", model, "--data", TEST_IMAGES, "--max-rows", "1000", "--out", codes, "--quiet"}, dir));
    kl[adversarial] = kl_to_standard_normal(read_npy(codes));
  }
  std::printf("[ codes ] KL of the per-unit moments to N(0, 1): plain %.3f, adversarial %.3f\n", kl[0], kl[1]);
  EXPECT_LT(kl[1], 0.5 * kl[0]);
}

// ae plan shows each phase (the prior op in the discriminator's); ae sample decodes draws from the
// model's prior, reproducibly, and a uniform prior draws other codes.
TEST(AaeCli, PlanShowsEachPhaseAndSampleDecodesPriorDraws) {
  ScratchDir dir;
  RunResult p1 = run_ae({"plan", "--spec", LAYERS, "--adversarial", D, "--prior", "uniform", "--phase", "1"}, dir);
  expect_success(p1);
  EXPECT_NE(p1.out.find("training phase 1 of 3: discriminator"), std::string::npos) << p1.out;
  EXPECT_NE(p1.out.find("prior              uniform(-1,1)"), std::string::npos) << p1.out;
  EXPECT_NE(p1.out.find("bce+logits"), std::string::npos) << p1.out;
  RunResult p2 = run_ae({"plan", "--spec", LAYERS + ":adversarial=" + D, "--phase", "2", "--json"}, dir);
  expect_success(p2);
  EXPECT_EQ(json::parse(p2.out)["phase"]["name"], "generator") << p2.out;
  const std::string g = dir / "g.st", u = dir / "u.st";
  expect_success(run_ae(train_args(g, "256", {"--spec", LAYERS, "--adversarial", D, "--steps", "3"}), dir));
  expect_success(run_ae(train_args(u, "256", {"--spec", LAYERS, "--adversarial", D, "--prior", "uniform", "--steps", "3"}), dir));
  RunResult s = run_ae({"sample", "--model", g, "--n", "6", "--seed", "2", "--out", dir / "s1.npy", "--quiet"}, dir);
  expect_success(s);
  EXPECT_NE(s.out.find("codes z ~ N(0, I)"), std::string::npos) << s.out;
  expect_success(run_ae({"sample", "--model", g, "--n", "6", "--seed", "2", "--out", dir / "s2.npy", "--quiet"}, dir));
  RunResult su = run_ae({"sample", "--model", u, "--n", "6", "--seed", "2", "--out", dir / "s3.npy", "--quiet"}, dir);
  expect_success(su);
  EXPECT_NE(su.out.find("codes z ~ U[-1, 1) per unit"), std::string::npos) << su.out;
  const Matrix s1 = read_npy(dir / "s1.npy"), s2 = read_npy(dir / "s2.npy");
  ASSERT_EQ(s1.cols, 784);
  EXPECT_EQ(s1.data, s2.data);
}

// Bad settings: exit 1, one line on stderr naming the flag or field, nothing written.
TEST(AaeCli, BadSettingsAreOneLineErrors) {
  ScratchDir dir;
  const std::string plain = dir / "plain.st";
  expect_success(run_ae(train_args(plain, "256", {"--spec", LAYERS, "--steps", "1"}), dir));
  auto refused = [&](const std::vector<std::string>& args, const std::string& needle) {
    expect_one_line_error(dir, args, needle);
  };
  refused({"plan", "--spec", LAYERS, "--adversarial", "16-64r-1"},
          "--adversarial 16-64r-1: the adversarial discriminator 16-64r-1 does not fit the code: its input width 16 is not the code width 8");
  refused({"plan", "--spec", LAYERS, "--adversarial", "8-64r-2"}, "must end in one linear logit");
  refused({"plan", "--spec", LAYERS, "--adversarial", "8"}, "--adversarial: discriminator '8' has no layers");
  refused({"plan", "--spec", LAYERS, "--prior", "uniform"}, "--prior uniform: is the prior of an adversarial discriminator");
  refused({"plan", "--spec", LAYERS, "--adversarial", D, "--prior", "laplace"}, "--prior: unknown prior 'laplace'");
  refused({"plan", "--spec", LAYERS + ":prior=uniform"}, "':prior=uniform' is the prior of an adversarial discriminator");
  refused({"plan", "--spec", LAYERS + ":adversarial=" + D, "--adversarial", D}, "both set it; give one");
  refused({"plan", "--spec", LAYERS, "--adversarial", D, "--tied"}, "cannot be combined with tied weights");
  refused({"plan", "--spec", "784-64r-8v-64r-784s", "--adversarial", D}, "cannot regularise a variational code");
  refused({"plan", "--spec", LAYERS, "--adversarial", D, "--sparsity", "l1:0.1"}, "cannot be combined with a sparsity penalty");
  refused({"plan", "--spec", LAYERS, "--adversarial", D, "--contractive", "0.1"}, "cannot be combined with the contractive penalty");
  refused({"plan", "--spec", LAYERS, "--adversarial", D, "--phase", "3"}, "--phase 3: ");
  refused({"plan", "--spec", LAYERS, "--phase", "1"}, "trains in 1 phase(s) (0 autoencoder)");
  refused({"plan", "--spec", R"({"input": 784, "encoder": [64, 8], "decoder": [64, 784], "adversarial": {"discriminator": "8-1", "prior": 2}})"},
          "'adversarial' must be {\"discriminator\"");
  refused({"bench", "--spec", LAYERS, "--adversarial", D, "--steps", "1", "--runs", "1"},
          "phases a step and ae bench times one plan; not supported yet");
  refused(train_args(dir / "x.st", "64", {"--spec", LAYERS, "--d-lr", "1e-3", "--steps", "1"}),
          "--d-lr is the learning rate of an adversarial autoencoder's discriminator, but " + LAYERS + " has no discriminator");
  refused(train_args(dir / "x.st", "64", {"--spec", LAYERS, "--adversarial", D, "--g-lr", "0", "--steps", "1"}),
          "--g-lr must be a positive number");
  refused(train_args(dir / "x.st", "64", {"--init", plain, "--adversarial", D, "--steps", "1"}),
          "--adversarial " + D + " cannot change the model of --init");
}

// A checkpoint records every group's optimizer: resuming without the --d-lr it was written with is
// refused (the discriminator would silently continue at --lr), as resuming with another one is.
TEST(AaeCli, ResumeWithoutTheCheckpointsGroupRatesIsRefused) {
  ScratchDir dir;
  const std::string model = dir / "a.st", ck = dir / "a.ckpt";
  auto args = [&](const std::vector<std::string>& more) {
    std::vector<std::string> a = {"train", "--data", TRAIN_IMAGES, "--max-rows", "256", "--batch", "64", "--no-val", "--threads",
                                  "1", "--quiet", "--spec", LAYERS, "--adversarial", D, "--steps", "4", "--checkpoint", ck,
                                  "--out", model};
    a.insert(a.end(), more.begin(), more.end());
    return a;
  };
  expect_success(run_ae(args({"--d-lr", "0.01"}), dir));
  for (const std::vector<std::string>& more : {std::vector<std::string>{"--resume"}, {"--resume", "--d-lr", "0.02"}}) {
    RunResult r = run_ae(args(more), dir);
    EXPECT_EQ(r.exit_code, 1) << r.command;
    EXPECT_NE(r.err.find("checkpoint was written by a run with different settings: group_optimizers"), std::string::npos)
        << r.err;
  }
  RunResult same = run_ae(args({"--resume", "--d-lr", "0.01"}), dir);
  expect_success(same);
}

}  // namespace
}  // namespace ae::e2e
