// End to end through the real `ae` binary: train / plan / info on small files, and every bad
// input the issue lists, each of which must end with exactly one line on stderr naming the file
// or flag and the problem, a non-zero exit, and no output file (nor a leftover temporary).
#include <cmath>
#include <cstring>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "ae/ae.hpp"
#include "host/data/idx.h"
#include "runtime/model_file.h"
#include "tests/e2e/e2e_util.h"

namespace ae::e2e {
namespace {

using json = nlohmann::json;

const std::string SMALL_SPEC = "784-64r-16-64r-784s";

// The first `rows` Fashion-MNIST training images as a plain (uncompressed) IDX file.
void write_fashion_subset(const std::string& path, int64_t rows, int64_t skip = 0) {
  Matrix m = read_idx_matrix(TRAIN_IMAGES, skip + rows);
  std::vector<uint8_t> px(size_t(rows * 784));
  for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t(std::lround(m.data[size_t(skip * 784) + i] * 255.0f));
  write_bytes(path, idx_u8(uint32_t(rows), 28, 28, px));
}

// Synthetic 28×28 images: enough for checks that never reach training.
std::vector<uint8_t> pattern(size_t n) {
  std::vector<uint8_t> px(n);
  for (size_t i = 0; i < n; ++i) px[i] = uint8_t((i * 37) % 256);
  return px;
}

// Tensors of two model files bit-identical, and the metadata identical except for measured
// throughput (samples_per_s in the training history, which is a timing, not a result).
void expect_same_model(const std::string& pa, const std::string& pb) {
  ModelFile a = load_model_file(pa), b = load_model_file(pb);
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    EXPECT_EQ(a.tensors[i].name, b.tensors[i].name);
    EXPECT_EQ(a.tensors[i].shape, b.tensors[i].shape);
    EXPECT_TRUE(a.tensors[i].data == b.tensors[i].data &&
                std::memcmp(a.tensors[i].data.data(), b.tensors[i].data.data(), a.tensors[i].data.size() * 4) == 0)
        << a.tensors[i].name << " differs between " << pa << " and " << pb;
  }
  auto strip = [](std::map<std::string, std::string> m) {
    json h = json::parse(m.at("ae.history"));
    for (auto& e : h) e.erase("samples_per_s");
    m["ae.history"] = h.dump();
    return m;
  };
  EXPECT_EQ(strip(a.metadata), strip(b.metadata));
}

class Cli : public ::testing::Test {
 protected:
  ScratchDir dir;
  std::string data() {
    std::string p = dir / "fashion512.idx";
    if (!fs::exists(p)) write_fashion_subset(p, 512);
    return p;
  }
};

TEST_F(Cli, StepsZeroWritesTheInitialModel) {
  const std::string model = dir / "init.safetensors";
  RunResult r = run_ae({"train", "--spec", SMALL_SPEC, "--data", data(), "--steps", "0", "--seed", "5", "--out", model}, dir);
  expect_success(r);
  ASSERT_TRUE(fs::exists(model));
  EXPECT_NE(r.out.find("model written to"), std::string::npos) << r.out;
  // The CLI's initial model is the API's model for the same spec and seed.
  Autoencoder from_cli = Autoencoder::load(model), from_api = Autoencoder::create(SMALL_SPEC, 5);
  std::vector<uint8_t> x = pattern(784 * 3);
  std::vector<float> xf(x.begin(), x.end());
  for (float& v : xf) v /= 255.0f;
  EXPECT_EQ(from_cli.reconstruct(xf.data(), 3), from_api.reconstruct(xf.data(), 3));

  RunResult info = run_ae({"info", "--model", model}, dir);
  expect_success(info);
  EXPECT_NE(info.out.find("spec: " + SMALL_SPEC), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("steps: 0"), std::string::npos) << info.out;
  const int64_t params = 784 * 64 + 64 + 64 * 16 + 16 + 16 * 64 + 64 + 64 * 784 + 784;
  EXPECT_NE(info.out.find("parameters: " + std::to_string(params)), std::string::npos) << info.out;
  for (const char* name : {"encoder.0.weight", "encoder.2.bias", "decoder.0.weight", "decoder.2.bias"})
    EXPECT_NE(info.out.find(name), std::string::npos) << info.out;
}

TEST_F(Cli, InitWithoutShufflingIsReproducible) {
  const std::string init = dir / "init.st", a = dir / "a.st", b = dir / "b.st";
  expect_success(run_ae({"train", "--spec", SMALL_SPEC, "--data", data(), "--steps", "0", "--out", init}, dir));
  for (const std::string& out : {a, b})
    expect_success(run_ae({"train", "--init", init, "--data", data(), "--steps", "20", "--shuffle", "off", "--batch", "64",
                           "--threads", "2", "--quiet", "--out", out},
                          dir));
  expect_same_model(a, b);
  // Training changed the weights, and the file says how far it went.
  ModelFile fi = load_model_file(init), fa = load_model_file(a);
  EXPECT_NE(fi.find("encoder.0.weight")->data, fa.find("encoder.0.weight")->data);
  EXPECT_EQ(fa.metadata.at("ae.step"), "20");
  RunResult info = run_ae({"info", "--model", a}, dir);
  expect_success(info);
  EXPECT_NE(info.out.find("steps: 20"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("\"name\":\"adam\""), std::string::npos) << info.out;
}

void expect_log_line(const json& j, int64_t step, bool with_val) {
  ASSERT_TRUE(j.is_object()) << j.dump();
  EXPECT_EQ(j.at("step"), step) << j.dump();
  ASSERT_TRUE(j.at("train_loss").is_number()) << j.dump();
  EXPECT_TRUE(std::isfinite(j["train_loss"].get<double>()) && j["train_loss"].get<double>() > 0) << j.dump();
  ASSERT_TRUE(j.at("samples_per_s").is_number()) << j.dump();
  EXPECT_GT(j["samples_per_s"].get<double>(), 0) << j.dump();
  if (with_val) {
    ASSERT_TRUE(j.at("val_loss").is_number()) << j.dump();
    EXPECT_GT(j["val_loss"].get<double>(), 0) << j.dump();
  } else {
    EXPECT_TRUE(j.at("val_loss").is_null()) << j.dump();
  }
}

TEST_F(Cli, LogJsonWritesOneLinePerEpoch) {
  const std::string val = dir / "val.idx", log = dir / "log.jsonl";
  write_fashion_subset(val, 128, 512);
  // 512 rows, batch 128: 4 steps per epoch, 2 epochs.
  RunResult r = run_ae({"train", "--spec", SMALL_SPEC, "--data", data(), "--val", val, "--epochs", "2", "--batch", "128",
                        "--log-json", log, "--quiet", "--out", dir / "m.st"},
                       dir);
  expect_success(r);
  std::vector<json> lines = json_lines(log);
  ASSERT_EQ(lines.size(), 2u) << read_text(log);
  expect_log_line(lines[0], 4, true);
  expect_log_line(lines[1], 8, true);
  EXPECT_LT(lines[1]["train_loss"].get<double>(), lines[0]["train_loss"].get<double>());

  // --log-every N: a line every N steps and one at the end; no validation set → val_loss null.
  RunResult e = run_ae({"train", "--spec", SMALL_SPEC, "--data", data(), "--steps", "8", "--batch", "64", "--log-every", "3",
                        "--log-json", log, "--quiet", "--out", dir / "m.st"},
                       dir);
  expect_success(e);
  lines = json_lines(log);
  ASSERT_EQ(lines.size(), 3u) << read_text(log);
  expect_log_line(lines[0], 3, false);
  expect_log_line(lines[1], 6, false);
  expect_log_line(lines[2], 8, false);
}

TEST_F(Cli, PlanJsonMeetsTheArenaTarget) {
  const std::string spec = "784-1000r-500r-250r-30-250r-500r-1000r-784s";
  RunResult r = run_ae({"plan", "--json", "--spec", spec, "--batch", "256"}, dir);
  expect_success(r);
  json j = json::parse(r.out);
  EXPECT_EQ(j.at("spec"), spec);
  EXPECT_EQ(j.at("batch"), 256);
  const double ratio = j.at("arena_ratio").get<double>();
  std::printf("arena %lld bytes, naive %lld bytes, ratio %.3f\n", j.at("arena_bytes").get<long long>(),
              j.at("naive_bytes").get<long long>(), ratio);
  EXPECT_LE(ratio, 0.7);
  EXPECT_GT(ratio, 0.0);
  EXPECT_NEAR(ratio, j["arena_bytes"].get<double>() / j.at("naive_bytes").get<double>(), 1e-9);
  ASSERT_TRUE(j.at("ops").is_array());
  ASSERT_FALSE(j["ops"].empty());
  double flops = 0;
  for (const auto& op : j["ops"]) flops += op.at("flops").get<double>();
  // Forward, two backward GEMMs per layer (the first layer's dX is not needed): at least 6·params·batch / 1.2.
  EXPECT_GT(flops, 5.0 * double(j.at("parameters").get<int64_t>()) * 256);
  EXPECT_NEAR(flops, j.at("flops_per_step").get<double>(), 1e-6 * flops);

  RunResult text = run_ae({"plan", "--spec", spec, "--batch", "256"}, dir);
  expect_success(text);
  EXPECT_NE(text.out.find("dense_fwd"), std::string::npos) << text.out;
}

TEST_F(Cli, VersionAndHelp) {
  RunResult v = run_ae({"--version"}, dir);
  expect_success(v);
  EXPECT_NE(v.out.find("ae "), std::string::npos);
  RunResult h = run_ae({"train", "--help"}, dir);
  expect_success(h);
  EXPECT_NE(h.out.find("--log-json"), std::string::npos);
}

// ---- bad input -------------------------------------------------------------------------------

struct BadInput {
  std::string name;                       // test name suffix
  std::vector<std::string> args;          // {dir} is replaced by the scratch directory
  std::vector<std::string> must_mention;  // substrings of the one-line message (file or flag, problem)
};

std::ostream& operator<<(std::ostream& os, const BadInput& b) { return os << b.name; }

// The input files the bad-input cases refer to, all in the scratch directory.
void write_bad_inputs(const ScratchDir& d) {
  const size_t img = 784;
  write_bytes(d / "ok.idx", idx_u8(16, 28, 28, pattern(16 * img)));
  write_bytes(d / "empty.idx", "");
  std::string trunc = idx_u8(16, 28, 28, pattern(16 * img));
  write_bytes(d / "trunc.idx", trunc.substr(0, trunc.size() - 100));
  write_bytes(d / "header_only.idx", trunc.substr(0, 10));
  write_bytes(d / "magic.idx", idx_u8(16, 28, 28, pattern(16 * img), 0x08, 0x12));
  write_bytes(d / "type.idx", idx_u8(16, 28, 28, pattern(16 * img), 0x07));
  write_bytes(d / "w100.idx", idx_u8(16, 10, 10, pattern(16 * 100)));
  write_bytes(d / "bad.json", "{\"input\": 784, \"encoder\": [");
  write_bytes(d / "act.json", R"({"input": 784, "encoder": [{"units": 16, "act": "rleu"}], "decoder": [{"units": 784, "act": "sigmoid"}]})");

  Autoencoder::create(SMALL_SPEC, 1).save(d / "init.st");
  const std::string good = read_text(d / "init.st");
  write_bytes(d / "trunc.st", good.substr(0, good.size() - 1000));
  write_bytes(d / "short.st", good.substr(0, 5));
  std::string corrupt = good;
  corrupt[8] = '[';  // the header's opening '{' → not a JSON object any more
  write_bytes(d / "corrupt.st", corrupt);
  std::string garbage(4096, '\0');
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = char((i * 2654435761u) >> 13);
  write_bytes(d / "garbage.st", garbage);

  ModelFile f = load_model_file(d / "init.st");
  ModelFile newer = f;
  newer.metadata["ae.format_version"] = "99";
  save_model_file(d / "newer.st", newer);
  ModelFile shape = f;
  for (auto& t : shape.tensors)
    if (t.name == "encoder.0.weight") t.shape = {784, 64};  // transposed: same size, wrong shape
  save_model_file(d / "shape.st", shape);
  ModelFile missing = f;
  missing.tensors.erase(missing.tensors.begin() + 1);  // drops encoder.0.bias
  save_model_file(d / "missing_tensor.st", missing);
  ModelFile foreign = f;
  foreign.metadata.clear();  // a plain safetensors file, not written by ae
  save_model_file(d / "foreign.st", foreign);
}

class CliBadInput : public ::testing::TestWithParam<BadInput> {};

TEST_P(CliBadInput, OneLineNonZeroExitNoOutput) {
  ScratchDir d;
  write_bad_inputs(d);
  const std::vector<std::string> before = d.list();
  std::vector<std::string> args;
  for (std::string a : GetParam().args) {
    for (size_t at; (at = a.find("{dir}")) != std::string::npos;) a.replace(at, 5, d.path().string());
    args.push_back(a);
  }
  RunResult r = run_ae(args, d);
  SCOPED_TRACE(r.command);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_LT(r.exit_code, 128) << "killed by a signal";
  // Exactly one line: "ae: error: <message>\n".
  EXPECT_EQ(r.err.rfind("ae: error: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_TRUE(!r.err.empty() && r.err.back() == '\n') << r.err;
  for (const std::string& m : GetParam().must_mention) {
    std::string want = m;
    for (size_t at; (at = want.find("{dir}")) != std::string::npos;) want.replace(at, 5, d.path().string());
    EXPECT_NE(r.err.find(want), std::string::npos) << "message does not mention '" << want << "': " << r.err;
  }
  // No output file and no temporary: the directory holds exactly the inputs.
  EXPECT_EQ(d.list(), before);
}

const std::string OUT = "{dir}/out.st";
std::vector<std::string> train_args(std::vector<std::string> extra) {
  std::vector<std::string> a = {"train", "--steps", "2", "--batch", "8", "--out", OUT};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

const BadInput BAD_INPUTS[] = {
    // spec
    {"SpecUnknownLetter", train_args({"--spec", "784-64q-16-64r-784s", "--data", "{dir}/ok.idx"}), {"--spec", "'q'"}},
    {"SpecZeroWidth", train_args({"--spec", "784-0r-16-64r-784s", "--data", "{dir}/ok.idx"}), {"--spec", "width 0"}},
    {"SpecDecoderOutputNotInput", train_args({"--spec", "784-64r-16-64r-700s", "--data", "{dir}/ok.idx"}), {"--spec", "700", "784"}},
    {"SpecTooFewLayers", train_args({"--spec", "784", "--data", "{dir}/ok.idx"}), {"--spec"}},
    {"SpecBadJsonFile", train_args({"--spec", "{dir}/bad.json", "--data", "{dir}/ok.idx"}), {"bad.json", "JSON"}},
    {"SpecJsonUnknownActivation", train_args({"--spec", "{dir}/act.json", "--data", "{dir}/ok.idx"}), {"rleu", "encoder[0].act"}},
    {"PlanUnknownLetter", {"plan", "--spec", "784-16x-784s"}, {"--spec", "'x'"}},
    // data
    {"DataMissing", train_args({"--spec", SMALL_SPEC, "--data", "{dir}/missing.idx"}), {"{dir}/missing.idx", "no such file"}},
    {"DataEmpty", train_args({"--spec", SMALL_SPEC, "--data", "{dir}/empty.idx"}), {"{dir}/empty.idx", "empty"}},
    {"DataTruncated", train_args({"--spec", SMALL_SPEC, "--data", "{dir}/trunc.idx"}), {"{dir}/trunc.idx", "truncated"}},
    {"DataHeaderTruncated", train_args({"--spec", SMALL_SPEC, "--data", "{dir}/header_only.idx"}), {"{dir}/header_only.idx"}},
    {"DataWrongMagic", train_args({"--spec", SMALL_SPEC, "--data", "{dir}/magic.idx"}), {"{dir}/magic.idx", "magic"}},
    {"DataUnknownType", train_args({"--spec", SMALL_SPEC, "--data", "{dir}/type.idx"}), {"{dir}/type.idx", "type"}},
    {"DataWidthNotSpec", train_args({"--spec", SMALL_SPEC, "--data", "{dir}/w100.idx"}), {"{dir}/w100.idx", "100", "784"}},
    {"ValTruncated", train_args({"--spec", SMALL_SPEC, "--data", "{dir}/ok.idx", "--val", "{dir}/trunc.idx"}), {"{dir}/trunc.idx", "truncated"}},
    {"ValWidthNotSpec", train_args({"--spec", SMALL_SPEC, "--data", "{dir}/ok.idx", "--val", "{dir}/w100.idx"}), {"{dir}/w100.idx", "100"}},
    // flags
    {"UnknownOptimizer", train_args({"--data", "{dir}/ok.idx", "--optimizer", "adamm"}), {"--optimizer", "adamm"}},
    {"UnknownLoss", train_args({"--data", "{dir}/ok.idx", "--loss", "l1"}), {"--loss", "l1"}},
    {"UnknownDevice", train_args({"--data", "{dir}/ok.idx", "--device", "tpu"}), {"--device", "tpu"}},
    {"BatchZero", {"train", "--data", "{dir}/ok.idx", "--steps", "1", "--batch", "0", "--out", OUT}, {"--batch"}},
    {"ShuffleMaybe", train_args({"--data", "{dir}/ok.idx", "--shuffle", "maybe"}), {"--shuffle", "maybe"}},
    {"NegativeSeed", train_args({"--data", "{dir}/ok.idx", "--seed", "-1"}), {"--seed"}},
    {"NanContamination", train_args({"--data", "{dir}/ok.idx", "--contamination", "nan"}), {"--contamination", "finite"}},
    {"ScoreNanThreshold", {"score", "--model", "{dir}/init.st", "--data", "{dir}/ok.idx", "--out", "{dir}/s.csv", "--threshold", "nan"},
     {"--threshold", "finite"}},
    {"NegativeThreads", train_args({"--data", "{dir}/ok.idx", "--threads", "-1"}), {"--threads"}},
    {"NegativeLearningRate", train_args({"--data", "{dir}/ok.idx", "--lr", "-1"}), {"lr"}},
    {"OutInMissingDirectory", {"train", "--data", "{dir}/ok.idx", "--steps", "1", "--out", "{dir}/nodir/out.st"}, {"--out", "{dir}/nodir"}},
    {"OutIsDirectory", {"train", "--data", "{dir}/ok.idx", "--steps", "1", "--out", "{dir}"}, {"--out", "directory"}},
    {"LogJsonInMissingDirectory", train_args({"--data", "{dir}/ok.idx", "--log-json", "{dir}/nodir/log.json"}), {"--log-json", "{dir}/nodir"}},
    // --init model files
    {"InitMissing", train_args({"--data", "{dir}/ok.idx", "--init", "{dir}/missing.st"}), {"{dir}/missing.st"}},
    {"InitTruncated", train_args({"--data", "{dir}/ok.idx", "--init", "{dir}/trunc.st"}), {"{dir}/trunc.st", "truncated"}},
    {"InitShorterThanLength", train_args({"--data", "{dir}/ok.idx", "--init", "{dir}/short.st"}), {"{dir}/short.st", "truncated"}},
    {"InitCorruptHeader", train_args({"--data", "{dir}/ok.idx", "--init", "{dir}/corrupt.st"}), {"{dir}/corrupt.st", "header"}},
    {"InitGarbage", train_args({"--data", "{dir}/ok.idx", "--init", "{dir}/garbage.st"}), {"{dir}/garbage.st"}},
    {"InitSpecDiffers", train_args({"--data", "{dir}/ok.idx", "--init", "{dir}/init.st", "--spec", "784-64t-16-64r-784s"}),
     {"--spec", "{dir}/init.st", SMALL_SPEC}},
    {"InitWrongTensorShape", train_args({"--data", "{dir}/ok.idx", "--init", "{dir}/shape.st"}), {"{dir}/shape.st", "encoder.0.weight", "shape"}},
    // ae info --model
    {"InfoNewerFormatVersion", {"info", "--model", "{dir}/newer.st"}, {"{dir}/newer.st", "version 99"}},
    {"InfoWrongTensorShape", {"info", "--model", "{dir}/shape.st"}, {"{dir}/shape.st", "encoder.0.weight", "[784, 64]"}},
    {"InfoMissingTensor", {"info", "--model", "{dir}/missing_tensor.st"}, {"{dir}/missing_tensor.st", "encoder.0.bias"}},
    {"InfoNotAnAeModel", {"info", "--model", "{dir}/foreign.st"}, {"{dir}/foreign.st", "not an ae model"}},
    {"InfoTruncated", {"info", "--model", "{dir}/trunc.st"}, {"{dir}/trunc.st", "truncated"}},
    {"InfoEmptyFile", {"info", "--model", "{dir}/empty.idx"}, {"{dir}/empty.idx", "empty"}},
};

INSTANTIATE_TEST_SUITE_P(Cases, CliBadInput, ::testing::ValuesIn(BAD_INPUTS),
                         [](const ::testing::TestParamInfo<BadInput>& info) { return info.param.name; });

}  // namespace
}  // namespace ae::e2e
