// The user's workflow through the real `ae` binary: train → encode → decode → reconstruct →
// score on Fashion-MNIST and on a CSV with a header and a text label column (zscore), and every
// bad input of the workflow commands: one line naming the file and place, exit 1, no output.
#include <cmath>
#include <fstream>

#include <gtest/gtest.h>

#include "host/data/dataset.h"
#include "host/data/idx.h"
#include "host/data/npy.h"
#include "tests/e2e/e2e_util.h"

namespace ae::e2e {
namespace {

void ok(const RunResult& r) { ASSERT_EQ(r.exit_code, 0) << r.command << "\n" << r.err; }

// One line on stderr that contains every `needle`, exit status 1, and no file at `out`
// (nor a temporary next to it).
void refused(const RunResult& r, const std::vector<std::string>& needles, const std::string& out, const ScratchDir& dir) {
  EXPECT_EQ(r.exit_code, 1) << r.command << "\n" << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.command << "\n" << r.err;
  for (const auto& n : needles) EXPECT_NE(r.err.find(n), std::string::npos) << r.command << "\nwanted '" << n << "' in: " << r.err;
  EXPECT_FALSE(fs::exists(out)) << out << " was written by " << r.command;
  for (const auto& name : dir.list()) EXPECT_EQ(name.find(".tmp."), std::string::npos) << name;
}

TEST(Workflow, FashionRoundTrip) {
  ScratchDir d;
  const std::string m = d / "m.safetensors", m0 = d / "m0.safetensors";
  // zscore inputs call for a linear output layer (a sigmoid cannot reach negative targets).
  std::vector<std::string> train = {"train", "--data", TRAIN_IMAGES, "--max-rows", "2000", "--val", TEST_IMAGES, "--val-rows", "500",
                                    "--spec", "784-64r-16-64r-784", "--epochs", "5", "--normalize", "zscore", "--contamination", "0.05",
                                    "--quiet", "--out"};
  auto with_out = [&](std::vector<std::string> a, const std::string& out, std::vector<std::string> extra = {}) {
    a.push_back(out);
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  ok(run_ae(with_out(train, m), d));
  ok(run_ae(with_out(train, m0, {"--steps", "0"}), d));  // the same model untrained, for comparison
  ok(run_ae({"encode", "--model", m, "--data", TEST_IMAGES, "--max-rows", "300", "--out", d / "codes.npy", "--quiet"}, d));
  ok(run_ae({"decode", "--model", m, "--codes", d / "codes.npy", "--out", d / "dec.npy", "--quiet"}, d));
  ok(run_ae({"reconstruct", "--model", m, "--data", TEST_IMAGES, "--max-rows", "300", "--out", d / "rec.npy", "--quiet"}, d));
  ok(run_ae({"reconstruct", "--model", m0, "--data", TEST_IMAGES, "--max-rows", "300", "--out", d / "rec0.npy", "--quiet"}, d));
  Matrix codes = read_npy(d / "codes.npy"), dec = read_npy(d / "dec.npy"), rec = read_npy(d / "rec.npy"), rec0 = read_npy(d / "rec0.npy");
  EXPECT_EQ(codes.rows, 300);
  EXPECT_EQ(codes.cols, 16);
  ASSERT_EQ(dec.rows, 300);
  ASSERT_EQ(dec.cols, 784);
  double worst = 0, mse = 0, mse0 = 0;
  Matrix x = read_idx_matrix(TEST_IMAGES, 300);
  for (size_t i = 0; i < rec.data.size(); ++i) {
    worst = std::max(worst, double(std::abs(rec.data[i] - dec.data[i])));
    mse += (rec.data[i] - x.data[i]) * (rec.data[i] - x.data[i]) / double(rec.data.size());
    mse0 += (rec0.data[i] - x.data[i]) * (rec0.data[i] - x.data[i]) / double(rec.data.size());
  }
  EXPECT_LT(worst, 1e-4);      // decode(encode(x)) == reconstruct(x), in the data's units
  EXPECT_LT(mse, 0.5 * mse0);  // training learned: pixel-unit error well below the untrained model's (measured 0.043 vs 0.11)
  std::printf("reconstruction MSE per pixel %.4f (untrained %.4f)\n", mse, mse0);
  RunResult s = run_ae({"score", "--model", m, "--data", TEST_IMAGES, "--max-rows", "300", "--labels",
                        FASHION_DIR + "t10k-labels-idx1-ubyte.gz", "--anomaly-label", "9", "--top", "3", "--out", d / "s.csv"}, d);
  ok(s);
  EXPECT_NE(s.out.find("AUROC"), std::string::npos) << s.out;
  EXPECT_NE(s.out.find("fitted in training"), std::string::npos) << s.out;
  std::string csv = read_text(d / "s.csv");
  EXPECT_EQ(csv.substr(0, 15), "row,score,flag\n");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 301);
}

TEST(Workflow, CsvWithHeaderAndTextLabels) {
  ScratchDir d;
  {
    std::ofstream f(d / "sensors.csv");
    f << "id_tag,temp,pressure,flow,vibration\n";
    for (int r = 0; r < 400; ++r) {
      double t = r * 0.05, anomaly = r % 50 == 7;
      f << (anomaly ? "fault" : "ok") << "," << 20 + 5 * std::sin(t) << "," << 1000 + 30 * std::cos(t) + (anomaly ? 200 : 0) << ","
        << 3 + std::sin(t) * std::cos(t) << "," << 0.1 * std::sin(2 * t) << "\n";
    }
  }
  const std::string m = d / "m.safetensors";
  ok(run_ae({"train", "--data", d / "sensors.csv", "--label-column", "id_tag", "--exclude-label", "fault", "--spec", "4-8t-2-8t-4",
             "--normalize", "zscore", "--epochs", "60", "--batch", "32", "--lr", "0.01", "--out", m, "--quiet"}, d));
  ok(run_ae({"encode", "--model", m, "--data", d / "sensors.csv", "--label-column", "id_tag", "--out", d / "codes.csv", "--quiet"}, d));
  ok(run_ae({"decode", "--model", m, "--codes", d / "codes.csv", "--out", d / "dec.csv", "--quiet"}, d));
  ok(run_ae({"reconstruct", "--model", m, "--data", d / "sensors.csv", "--label-column", "id_tag", "--out", d / "rec.csv", "--quiet"}, d));
  CsvData rec = read_csv(d / "rec.csv");
  ASSERT_EQ(rec.features.rows, 400);
  EXPECT_EQ(rec.features.column_names, (std::vector<std::string>{"temp", "pressure", "flow", "vibration"}));
  EXPECT_NEAR(rec.features.data[1], 1000 + 30 * std::cos(0.05), 30.0);  // back in the data's units
  RunResult s = run_ae({"score", "--model", m, "--data", d / "sensors.csv", "--label-column", "id_tag", "--anomaly-label", "fault",
                        "--out", d / "s.csv"}, d);
  ok(s);
  auto pos = s.out.find("AUROC ");
  ASSERT_NE(pos, std::string::npos) << s.out;
  EXPECT_GT(std::stod(s.out.substr(pos + 6)), 0.95) << s.out;  // +200 pressure faults stand out
}

TEST(Workflow, BadInputsAreRefusedCleanly) {
  ScratchDir d;
  const std::string m = d / "m.safetensors";
  ok(run_ae({"train", "--data", TRAIN_IMAGES, "--max-rows", "300", "--no-val", "--spec", "784-16r-4-16r-784s", "--steps", "3",
             "--out", m, "--checkpoint", "none", "--quiet"}, d));
  auto put = [&](const std::string& name, const std::string& bytes) {
    write_bytes(d / name, bytes);
    return d / name;
  };
  std::string npy_head = std::string("\x93NUMPY\x01\x00", 8);
  auto npy = [&](const std::string& dict) {
    std::string h = dict;
    while ((10 + h.size() + 1) % 64) h += ' ';
    h += '\n';
    std::string b = npy_head;
    b.push_back(char(h.size() & 0xff));
    b.push_back(char(h.size() >> 8));
    return b + h;
  };
  struct Case {
    std::string what, file;
    std::vector<std::string> needles;
  };
  std::vector<Case> data_cases = {
      {"missing file", d / "nope.csv", {"nope.csv", "no such file"}},
      {"empty file", put("empty.csv", ""), {"empty.csv", "empty"}},
      {"truncated IDX", put("trunc.idx", idx_u8(10, 28, 28, std::vector<uint8_t>(784 * 3))), {"trunc.idx", "truncated"}},
      {"wrong IDX magic", put("magic.idx", idx_u8(1, 28, 28, std::vector<uint8_t>(784), 0x08, 7)), {"magic.idx"}},
      {"truncated NPY", put("trunc.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (5, 784), }") + std::string(100, '\0')),
       {"trunc.npy", "truncated"}},
      {"NPY complex dtype", put("cplx.npy", npy("{'descr': '<c8', 'fortran_order': False, 'shape': (1, 784), }") + std::string(784 * 8, '\0')),
       {"cplx.npy", "c8"}},
      {"NPY Fortran order", put("fort.npy", npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 784), }") + std::string(784 * 8, '\0')),
       {"fort.npy", "Fortran"}},
      {"CSV ragged row", put("ragged.csv", "a,b\n1,2\n3\n"), {"ragged.csv:3"}},
      {"CSV non-numeric", put("text.csv", "a,b\n1,2\n3,x7\n"), {"text.csv:3:2", "x7"}},
      {"CSV NaN", put("nan.csv", "a,b\n1,nan\n"), {"nan.csv:2:2"}},
      {"CSV Inf", put("inf.csv", "a,b\n1,2\ninf,2\n"), {"inf.csv:3:1"}},
      {"width differs from the model", put("narrow.csv", "a,b\n1,2\n"), {"narrow.csv", "rows have 2 ", "784"}},
  };
  for (const auto& c : data_cases) {
    SCOPED_TRACE(c.what);
    refused(run_ae({"encode", "--model", m, "--data", c.file, "--out", d / "out.npy"}, d), c.needles, d / "out.npy", d);
    refused(run_ae({"score", "--model", m, "--data", c.file, "--out", d / "out.csv"}, d), c.needles, d / "out.csv", d);
  }
  // Bad model files.
  std::string good = read_text(m);
  std::string version = good;
  auto at = version.find("\"ae.format_version\":\"1\"");
  ASSERT_NE(at, std::string::npos);
  version[at + 21] = '9';
  std::string shape = good;
  auto w = shape.find("\"shape\":[16,784]");
  ASSERT_NE(w, std::string::npos);
  shape.replace(w, 16, "\"shape\":[784,16]");
  std::string header = good;
  header[9] = '\x01';  // a control character inside the JSON header
  std::vector<Case> model_cases = {
      {"truncated model", put("trunc.safetensors", good.substr(0, good.size() / 2)), {"trunc.safetensors"}},
      {"corrupted header", put("hdr.safetensors", header), {"hdr.safetensors", "invalid JSON at byte 9"}},
      {"tensor with the wrong shape", put("shape.safetensors", shape), {"shape.safetensors", "encoder.0.weight", "[784, 16]"}},
      {"newer format version", put("v9.safetensors", version), {"v9.safetensors", "version 9"}},
  };
  for (const auto& c : model_cases) {
    SCOPED_TRACE(c.what);
    refused(run_ae({"encode", "--model", c.file, "--data", TEST_IMAGES, "--out", d / "out.npy"}, d), c.needles, d / "out.npy", d);
    refused(run_ae({"train", "--init", c.file, "--data", TEST_IMAGES, "--out", d / "out.safetensors"}, d), c.needles,
            d / "out.safetensors", d);
  }
  // Bad specs.
  std::vector<Case> spec_cases = {
      {"unknown activation", "784-16q-784", {"--spec", "unknown activation letter 'q'"}},
      {"zero-width layer", "784-0r-784", {"--spec", "width 0"}},
      {"mismatched decoder output", "784-16r-700", {"--spec", "700", "784"}},
  };
  for (const auto& c : spec_cases) {
    SCOPED_TRACE(c.what);
    refused(run_ae({"train", "--spec", c.file, "--data", TEST_IMAGES, "--out", d / "out.safetensors"}, d), c.needles,
            d / "out.safetensors", d);
  }
}

// Found in review: each used to crash, corrupt a file or silently do the wrong thing.
TEST(Workflow, ReviewRegressions) {
  ScratchDir d;
  write_bytes(d / "tiny.csv", "a,b,c,d\n1,2,3,4\n5,6,7,8\n9,10,11,12\n");
  const std::string m = d / "m.st", csv = d / "tiny.csv";
  ok(run_ae({"train", "--spec", "4-2-4", "--data", csv, "--steps", "2", "--out", m, "--checkpoint", "none", "--quiet"}, d));
  const std::string model_bytes = read_text(m);
  struct Case {
    std::vector<std::string> args;
    std::vector<std::string> needles;
    std::string out;
  };
  std::vector<Case> cases = {
      {{"train", "--spec", "4-2-4", "--data", csv, "--out", d / "x.st", "--log-json", d / "x.st"}, {"--out and --log-json both name"}, d / "x.st"},
      {{"score", "--model", m, "--data", csv, "--out", d / "s.csv", "--max-rows", "0"}, {"--max-rows must be ≥ 1"}, d / "s.csv"},
      {{"score", "--model", m, "--data", csv, "--out", d / "s.npy"}, {"--out", "unsupported extension '.npy'"}, d / "s.npy"},
      {{"encode", "--model", m, "--data", csv, "--out", d / "c.txt"}, {"--out", "'.txt'"}, d / "c.txt"},
      {{"train", "--spec", "4-2-4", "--data", csv, "--threads", "65536", "--out", d / "y.st"}, {"--threads"}, d / "y.st"},
      {{"bench", "--spec", "4-2-4", "--batch", "9223372036854775807", "--steps", "1", "--runs", "1"}, {"--batch", "too large"}, ""},
      {{"train", "--spec", "4-2-4", "--loss", "bce", "--data", csv, "--out", d / "b.st"}, {"--loss bce needs a sigmoid output"}, d / "b.st"},
      {{"train", "--spec", "4-2-4s", "--loss", "bce", "--data", csv, "--out", d / "b.st"}, {"--loss bce needs targets in [0, 1]", "tiny.csv"}, d / "b.st"},
      {{"score", "--model", m, "--data", csv, "--out", d / "s.csv", "--anomaly-label", "2"}, {"--anomaly-label needs labels"}, d / "s.csv"},
      {{"train", "--spec", "4-2-4", "--data", csv, "--lr-min", "-1", "--out", d / "z.st"}, {"--lr-min"}, d / "z.st"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.args[0] + " " + c.needles[0]);
    RunResult r = run_ae(c.args, d);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    for (const auto& n : c.needles) EXPECT_NE(r.err.find(n), std::string::npos) << "wanted '" << n << "' in: " << r.err;
    if (!c.out.empty()) EXPECT_FALSE(fs::exists(c.out)) << c.out;
  }
  EXPECT_EQ(read_text(m), model_bytes);  // nothing touched the model
  for (const auto& name : d.list()) EXPECT_EQ(name.find(".tmp."), std::string::npos) << name;
}

}  // namespace
}  // namespace ae::e2e
