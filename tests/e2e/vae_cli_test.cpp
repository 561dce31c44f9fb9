// Variational autoencoders through the real `ae` binary: a 'v' code layer trains with both terms
// reported (log lines, history), the file names the heads mu.* and logvar.*, encode writes μ (or
// μ ‖ log σ², or a draw of z), sample decodes draws from the prior (seeded, a PNG grid too), score
// gives the negative ELBO or the importance-weighted bound, and every bad setting is a one-line
// error naming the flag or field, with nothing written.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string>
#include <vector>

#include "host/data/npy.h"
#include "runtime/model_file.h"
#include "tests/e2e/e2e_util.h"

namespace ae::e2e {
namespace {

using json = nlohmann::json;

const std::string SPEC = "784-64r-8v-64r-784s";

// 512 Fashion-MNIST images, batch 64: 8 steps an epoch.
std::vector<std::string> train_args(const std::string& out, const std::vector<std::string>& more) {
  std::vector<std::string> a = {"train",   "--data",  TRAIN_IMAGES, "--max-rows",   "512",  "--batch", "64", "--no-val",
                                "--loss",  "bce",     "--threads",  "1",            "--quiet", "--checkpoint", "none",
                                "--out",   out};
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

double csv_column_mean(const std::string& path, int column) {  // a score file: row,score[,flag]
  std::istringstream in(read_text(path));
  std::string line;
  std::getline(in, line);  // header
  double sum = 0;
  int64_t n = 0;
  while (std::getline(in, line)) {
    size_t at = 0;
    for (int c = 0; c < column; ++c) at = line.find(',', at) + 1;
    sum += std::stod(line.substr(at));
    ++n;
  }
  return n ? sum / double(n) : NAN;
}

// Training reports recon and kl on every log line (total = recon + β_t·kl, β warmed up), the file
// holds mu.* and logvar.* instead of a code layer, and `ae info` says what the model is.
TEST(VaeCli, TrainReportsBothTermsAndTheFileNamesTheHeads) {
  ScratchDir dir;
  const std::string model = dir / "vae.st", log = dir / "log.jsonl";
  RunResult r = run_ae(train_args(model, {"--spec", SPEC, "--beta", "2", "--kl-warmup", "8", "--epochs", "2",
                                          "--log-every", "2", "--log-json", log}),
                       dir);
  expect_success(r);
  EXPECT_NE(r.out.find("summed over features + β·KL, β = 2 after warm-up"), std::string::npos) << r.out;
  const std::vector<json> lines = json_lines(log);
  ASSERT_EQ(lines.size(), 8u) << read_text(log);
  for (const json& j : lines) {
    ASSERT_TRUE(j.contains("terms") && j["terms"].contains("recon") && j["terms"].contains("kl")) << j.dump();
    EXPECT_GT(j["terms"]["kl"].get<double>(), 0) << j.dump();
    EXPECT_GT(j["terms"]["recon"].get<double>(), 100) << "bce summed over 784 pixels: " << j.dump();
  }
  const json spec = spec_json(model);
  EXPECT_EQ(spec.value("beta", json()), json(2.0)) << spec.dump();
  EXPECT_EQ(spec.value("kl_warmup", json()), json(8)) << spec.dump();
  EXPECT_EQ(spec["encoder"].back().value("variational", false), true) << spec.dump();
  const ModelFile f = load_model_file(model);
  for (const char* name : {"mu.weight", "mu.bias", "logvar.weight", "logvar.bias"}) {
    const NamedTensor* t = f.find(name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(t->shape[0], 8) << name;
  }
  EXPECT_EQ(f.find("mu.weight")->shape, (std::vector<int64_t>{8, 64}));
  EXPECT_EQ(f.find("encoder.2.weight"), nullptr);
  RunResult info = run_ae({"info", "--model", model}, dir);
  expect_success(info);
  EXPECT_NE(info.out.find("spec: " + SPEC + ":beta=2:kl_warmup=8 "), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("\nvariational: "), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("logvar.weight"), std::string::npos) << info.out;
}

// encode: μ by default, μ ‖ log σ² with --with-logvar, a reproducible draw with --sample; decode
// and sample round out the generative use; score: the negative ELBO, and --iw K's bound, which is
// tighter (lower) on average.
TEST(VaeCli, EncodeSampleAndScore) {
  ScratchDir dir;
  const std::string model = dir / "vae.st";
  expect_success(run_ae(train_args(model, {"--spec", SPEC, "--epochs", "2"}), dir));
  const std::vector<std::string> data = {"--data", TEST_IMAGES, "--max-rows", "100", "--quiet"};
  auto run_ok = [&](std::vector<std::string> args) {
    RunResult r = run_ae(args, dir);
    expect_success(r);
    return r;
  };
  auto with = [&](std::vector<std::string> a, const std::vector<std::string>& more) {
    a.insert(a.end(), more.begin(), more.end());
    return a;
  };
  run_ok(with({"encode", "--model", model, "--out", dir / "mu.npy"}, data));
  run_ok(with({"encode", "--model", model, "--with-logvar", "--out", dir / "mulv.npy"}, data));
  run_ok(with({"encode", "--model", model, "--sample", "--out", dir / "z1.npy"}, data));
  run_ok(with({"encode", "--model", model, "--sample", "--batch", "7", "--out", dir / "z2.npy"}, data));
  const Matrix mu = read_npy(dir / "mu.npy"), mulv = read_npy(dir / "mulv.npy"), z1 = read_npy(dir / "z1.npy"),
               z2 = read_npy(dir / "z2.npy");
  ASSERT_EQ(mu.cols, 8);
  ASSERT_EQ(mulv.cols, 16);
  for (int64_t r = 0; r < 100; ++r)
    for (int64_t j = 0; j < 8; ++j) ASSERT_EQ(mulv.data[size_t(r * 16 + j)], mu.data[size_t(r * 8 + j)]) << r << "," << j;
  EXPECT_EQ(z1.data, z2.data) << "a draw of z is keyed by the data row, not the batch";
  double moved = 0;
  for (size_t i = 0; i < z1.data.size(); ++i) moved = std::max(moved, double(std::abs(z1.data[i] - mu.data[i])));
  EXPECT_GT(moved, 1e-3) << "--sample wrote μ";

  run_ok({"sample", "--model", model, "--n", "20", "--seed", "3", "--out", dir / "s1.npy", "--grid", dir / "s.png", "--quiet"});
  run_ok({"sample", "--model", model, "--n", "20", "--seed", "3", "--out", dir / "s2.npy", "--quiet"});
  run_ok({"sample", "--model", model, "--n", "20", "--seed", "4", "--out", dir / "s3.npy", "--quiet"});
  const Matrix s1 = read_npy(dir / "s1.npy"), s2 = read_npy(dir / "s2.npy"), s3 = read_npy(dir / "s3.npy");
  ASSERT_EQ(s1.rows, 20);
  ASSERT_EQ(s1.cols, 784);
  EXPECT_EQ(s1.data, s2.data) << "the same seed draws the same rows";
  EXPECT_NE(s1.data, s3.data);
  const double mean = std::accumulate(s1.data.begin(), s1.data.end(), 0.0) / double(s1.data.size());
  EXPECT_GT(mean, 0.02);  // within the data's [0, 1], not a constant image
  EXPECT_LT(mean, 0.98);
  EXPECT_GT(read_text(dir / "s.png").size(), 100u);
  EXPECT_EQ(read_text(dir / "s.png").substr(1, 3), "PNG");

  // reconstruct --grid: each input beside its reconstruction, one PNG.
  run_ok(with({"reconstruct", "--model", model, "--out", dir / "rec.npy", "--grid", dir / "rec.png", "--grid-n", "6"}, data));
  EXPECT_EQ(read_text(dir / "rec.png").substr(1, 3), "PNG");

  RunResult elbo = run_ok(with({"score", "--model", model, "--out", dir / "elbo.csv"}, data));
  // ε is keyed by the data row: the scores do not depend on the batch size.
  run_ok(with({"score", "--model", model, "--batch", "7", "--out", dir / "elbo7.csv"}, data));
  run_ok(with({"score", "--model", model, "--iw", "5", "--out", dir / "iw5.csv"}, data));
  run_ok(with({"score", "--model", model, "--iw", "5", "--batch", "7", "--out", dir / "iw5b.csv"}, data));
  EXPECT_EQ(read_text(dir / "elbo.csv"), read_text(dir / "elbo7.csv"));
  EXPECT_EQ(read_text(dir / "iw5.csv"), read_text(dir / "iw5b.csv"));
  EXPECT_NE(elbo.out.find("negative ELBO per row, nats"), std::string::npos) << elbo.out;
  RunResult iw = run_ok(with({"score", "--model", model, "--iw", "20", "--out", dir / "iw.csv"}, data));
  EXPECT_NE(iw.out.find("importance-weighted bound on −log p(x), 20 samples"), std::string::npos) << iw.out;
  const double e = csv_column_mean(dir / "elbo.csv", 1), b = csv_column_mean(dir / "iw.csv", 1);
  EXPECT_GT(e, 100) << "nats per Fashion-MNIST image";
  EXPECT_LT(b, e) << "IW-20 bound " << b << " vs one-sample negative ELBO " << e;
  EXPECT_GT(b, 0.8 * e);
}

// Bad settings: exit 1, one line on stderr naming the flag or field, nothing written.
TEST(VaeCli, BadSettingsAreOneLineErrors) {
  ScratchDir dir;
  const std::string vae = dir / "vae.st", plain = dir / "plain.st";
  expect_success(run_ae(train_args(vae, {"--spec", SPEC, "--steps", "1"}), dir));
  expect_success(run_ae(train_args(plain, {"--spec", "784-64r-8-64r-784s", "--steps", "1"}), dir));
  auto refused = [&](const std::vector<std::string>& args, const std::string& needle) {
    expect_one_line_error(dir, args, needle);
  };
  refused({"plan", "--spec", "784-64v-8v-64r-784s"}, "more than one layer is marked variational");
  refused({"plan", "--spec", "784-64v-8*-64r-784s"}, "encoder[0] (64 units) is variational ('v'), but only the code layer can be");
  refused({"plan", "--spec", "784-64r-8*-64v-784s"}, "decoder[0] (64 units) is variational");
  refused({"plan", "--spec", SPEC + ":tied"}, "a variational code layer cannot be tied");
  refused({"plan", "--spec", "784-64r-8v-64r-784s", "--tied"}, "cannot be tied");
  refused({"plan", "--spec", SPEC, "--beta", "-1"}, "--beta: beta '-1' must be a finite number ≥ 0");
  refused({"plan", "--spec", SPEC + ":beta=-1"}, "beta '-1' must be a finite number ≥ 0");
  refused({"plan", "--spec", SPEC, "--kl-warmup", "-3"}, "--kl-warmup: KL warm-up '-3' must be a whole number");
  refused({"plan", "--spec", "784-64r-8-64r-784s", "--beta", "4"}, "--beta 4: weighs a VAE's KL term");
  refused({"plan", "--spec", R"({"input": 784, "encoder": [{"units": 8, "act": "relu", "variational": true}],)"
                             R"( "decoder": [{"units": 784, "act": "sigmoid"}]})"},
          "encoder[0] is variational, so its heads (μ and log σ²) are linear");
  refused({"plan", "--spec", R"({"input": 784, "encoder": [{"units": 8, "variational": 1}], "decoder": [784]})"},
          "encoder[0].variational must be true or false");
  refused({"score", "--model", vae, "--data", TEST_IMAGES, "--max-rows", "10", "--iw", "0", "--out", dir / "s.csv"},
          "--iw 0: the importance-weighted bound needs K ≥ 1");
  refused({"score", "--model", plain, "--data", TEST_IMAGES, "--max-rows", "10", "--iw", "5", "--out", dir / "s.csv"},
          "--iw 5: the importance-weighted bound needs a VAE");
  refused({"sample", "--model", plain, "--n", "4", "--out", dir / "s.npy"}, "is not generative");
  refused({"sample", "--model", vae, "--n", "4", "--grid", dir / "g.png", "--image-shape", "27x28"}, "--image-shape");
  refused({"encode", "--model", plain, "--data", TEST_IMAGES, "--with-logvar", "--out", dir / "e.npy"},
          "--with-logvar needs a VAE");
  refused({"plan", "--spec", SPEC + ":beta=2", "--beta", "3"}, "--beta 3 and the spec's own beta (");
  refused({"plan", "--spec", "784-64v-8-64r-784s"}, "encoder[0] (64 units) is variational ('v'), but only the code layer can be");
  refused({"sample", "--model", vae, "--n", "4611686018427387904", "--out", dir / "s.npy"}, "--n 4611686018427387904: ");
  refused({"sample", "--model", vae, "--n", "4", "--out", dir / "s.npy", "--image-shape", "28x28"},
          "--image-shape is only used with --grid");
  refused({"sample", "--model", vae, "--n", "300000", "--out", dir / "s.npy", "--grid", dir / "g.png"},
          "--grid with --n 300000: cannot draw");
  refused({"reconstruct", "--model", vae, "--data", TEST_IMAGES, "--max-rows", "3000", "--grid-n", "3000", "--out",
           dir / "r.npy", "--grid", dir / "r.png"},
          "--grid with --grid-n 3000: cannot draw");
  refused({"score", "--model", vae, "--data", TEST_IMAGES, "--max-rows", "10", "--iw", "-1", "--out", dir / "s.csv"},
          "--iw -1: the importance-weighted bound needs K ≥ 1");
}

}  // namespace
}  // namespace ae::e2e
