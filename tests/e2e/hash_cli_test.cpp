// Semantic hashing, retrieval and compression through the real `ae` binary on a Fashion-MNIST
// subset: train records the codes' medians, hash thresholds them into numpy.packbits order,
// retrieve ranks by Hamming distance (and against LSH), compress/decompress round-trip through an
// .aec file, and every bad input is a one-line error naming the flag or file, with nothing written.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "host/data/npy.h"
#include "runtime/model_file.h"
#include "tests/e2e/e2e_util.h"

namespace ae::e2e {
namespace {

using json = nlohmann::json;

const std::string SPEC = "784-32r-16-32r-784s";
const std::string TRAIN_LABELS = FASHION_DIR + "train-labels-idx1-ubyte.gz";
const std::string TEST_LABELS = FASHION_DIR + "t10k-labels-idx1-ubyte.gz";

void train(const ScratchDir& dir, const std::string& out, const std::string& spec = SPEC) {
  expect_success(run_ae({"train", "--data", TRAIN_IMAGES, "--max-rows", "512", "--batch", "64", "--no-val", "--epochs", "2", "--threads",
                         "1", "--quiet", "--checkpoint", "none", "--spec", spec, "--out", out},
                        dir));
}

RunResult run_ok(const ScratchDir& dir, const std::vector<std::string>& args) {
  RunResult r = run_ae(args, dir);
  expect_success(r);
  return r;
}

// The NPY file's bytes after its header (ae writes v1.0 headers padded to 64 bytes... or 128).
std::string npy_payload(const std::string& path, std::string* header = nullptr) {
  const std::string b = read_text(path);
  const size_t len = size_t(uint8_t(b[8])) | size_t(uint8_t(b[9])) << 8;
  if (header) *header = b.substr(10, len);
  return b.substr(10 + len);
}

// `ae hash` agrees with thresholding `ae encode`'s codes at the medians train recorded, keeping the
// largest-deviation units in unit order, packed MSB first.
TEST(HashCli, TrainRecordsMediansAndHashThresholdsAtThem) {
  ScratchDir dir;
  const std::string model = dir / "m.st";
  train(dir, model);
  const json stats = json::parse(load_model_file(model).metadata.at("ae.code_stats"));
  ASSERT_EQ(stats["median"].size(), 16u);
  ASSERT_EQ(stats["std"].size(), 16u);
  EXPECT_EQ(stats["rows"], 512);
  EXPECT_NE(run_ok(dir, {"info", "--model", model}).out.find("code statistics: per-unit medians"), std::string::npos);

  const std::vector<std::string> data = {"--data", TEST_IMAGES, "--max-rows", "100", "--quiet"};
  auto with = [&](std::vector<std::string> a) {
    a.insert(a.end(), data.begin(), data.end());
    return a;
  };
  run_ok(dir, with({"encode", "--model", model, "--out", dir / "codes.npy"}));
  const Matrix codes = read_npy(dir / "codes.npy");
  ASSERT_EQ(codes.cols, 16);
  for (int bits : {16, 12}) {
    const std::string out = dir / ("h" + std::to_string(bits) + ".npy");
    RunResult r = run_ok(dir, with({"hash", "--model", model, "--bits", std::to_string(bits), "--out", out}));
    EXPECT_NE(r.out.find("training medians"), std::string::npos) << r.out;
    std::string header;
    const std::string bytes = npy_payload(out, &header);
    EXPECT_NE(header.find("'descr': '|u1'"), std::string::npos) << header;
    const int nbytes = (bits + 7) / 8;
    EXPECT_NE(header.find("'shape': (100, " + std::to_string(nbytes) + ")"), std::string::npos) << header;
    ASSERT_EQ(bytes.size(), size_t(100 * nbytes));
    // The units: the `bits` largest deviations (ties to the lower unit), in unit order.
    std::vector<int> units(16);
    for (int u = 0; u < 16; ++u) units[size_t(u)] = u;
    std::stable_sort(units.begin(), units.end(),
                     [&](int x, int y) { return stats["std"][size_t(x)].get<float>() > stats["std"][size_t(y)].get<float>(); });
    units.resize(size_t(bits));
    std::sort(units.begin(), units.end());
    for (int64_t r = 0; r < 100; ++r)
      for (int j = 0; j < bits; ++j) {
        const int u = units[size_t(j)];
        const bool want = codes.data[size_t(r * 16 + u)] > stats["median"][size_t(u)].get<float>();
        const bool got = (uint8_t(bytes[size_t(r * nbytes + j / 8)]) >> (7 - j % 8)) & 1;
        ASSERT_EQ(got, want) << "row " << r << " bit " << j << " (unit " << u << ")";
      }
  }
  // A sigmoid code is cut at 0.5; --fit takes the medians of another file's codes.
  const std::string sig = dir / "sig.st";
  train(dir, sig, "784-32r-16s-32r-784s");
  EXPECT_NE(run_ok(dir, with({"hash", "--model", sig, "--out", dir / "s.npy"})).out.find("0.5 (a sigmoid code)"), std::string::npos);
  RunResult fit = run_ok(dir, with({"hash", "--model", model, "--fit", TRAIN_IMAGES, "--out", dir / "f.npy"}));
  EXPECT_NE(fit.out.find("the medians of --fit"), std::string::npos) << fit.out;
  // A VAE hashes its mean code μ, at the medians of the training rows' μ.
  const std::string vae = dir / "vae.st";
  train(dir, vae, "784-32r-8v-32r-784s");
  run_ok(dir, with({"encode", "--model", vae, "--out", dir / "mu.npy"}));
  run_ok(dir, with({"hash", "--model", vae, "--out", dir / "v.npy"}));
  const Matrix mu = read_npy(dir / "mu.npy");
  const json vstats = json::parse(load_model_file(vae).metadata.at("ae.code_stats"));
  const std::string vbits = npy_payload(dir / "v.npy");
  ASSERT_EQ(vbits.size(), 100u);
  for (int64_t r = 0; r < 100; ++r)
    for (int j = 0; j < 8; ++j)
      ASSERT_EQ((uint8_t(vbits[size_t(r)]) >> (7 - j)) & 1, mu.data[size_t(r * 8 + j)] > vstats["median"][size_t(j)].get<float>() ? 1 : 0)
          << "row " << r << " unit " << j;
}

// Top K per query in CSV, distances non-decreasing and ties by lower row; with labels, mAP and
// precision for the codes and (--compare-lsh) for LSH; the same run twice gives the same file.
TEST(HashCli, RetrieveRanksByHammingDistance) {
  ScratchDir dir;
  const std::string model = dir / "m.st";
  train(dir, model);
  const std::vector<std::string> args = {"retrieve", "--model", model, "--database", TRAIN_IMAGES, "--query", TEST_IMAGES,
                                         "--max-rows", "300", "--top", "7", "--database-labels", TRAIN_LABELS,
                                         "--query-labels", TEST_LABELS, "--compare-lsh", "--threads", "2", "--quiet"};
  auto with_out = [&](const std::string& out) {
    std::vector<std::string> a = args;
    a.insert(a.end(), {"--out", out});
    return a;
  };
  RunResult r = run_ok(dir, with_out(dir / "r.csv"));
  EXPECT_NE(r.out.find("semantic hashing, 16 bits"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("random-hyperplane LSH, 16 bits"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("mAP "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("precision@7 "), std::string::npos) << r.out;
  std::istringstream in(read_text(dir / "r.csv"));
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "query,rank,database_row,distance");
  int64_t n = 0, last_q = -1, last_d = -1, last_row = -1, last_rank = 0;
  while (std::getline(in, line)) {
    int64_t q, rank, row, d;
    ASSERT_EQ(std::sscanf(line.c_str(), "%ld,%ld,%ld,%ld", &q, &rank, &row, &d), 4) << line;
    if (q != last_q) last_d = -1, last_row = -1, last_rank = 0;
    EXPECT_EQ(rank, last_rank + 1) << line;
    EXPECT_GE(d, last_d) << line;
    if (d == last_d) EXPECT_GT(row, last_row) << "ties go to the lower database row: " << line;
    EXPECT_TRUE(d >= 0 && d <= 16 && row >= 0 && row < 300) << line;
    last_q = q, last_d = d, last_row = row, last_rank = rank;
    ++n;
  }
  EXPECT_EQ(n, 300 * 7);
  run_ok(dir, with_out(dir / "r2.csv"));
  EXPECT_EQ(read_text(dir / "r.csv"), read_text(dir / "r2.csv"));
}

// float32 codes decode to what reconstruct gives; 8-bit codes are 4× smaller and still close; the
// report names sizes, ratios and PSNR.
TEST(HashCli, CompressAndDecompressRoundTrip) {
  ScratchDir dir;
  const std::string model = dir / "m.st";
  train(dir, model);
  const std::vector<std::string> data = {"--data", TEST_IMAGES, "--max-rows", "64", "--quiet"};
  RunResult c = run_ok(dir, {"compress", "--model", model, "--data", TEST_IMAGES, "--max-rows", "64", "--out", dir / "c.aec"});
  EXPECT_NE(c.out.find("raw float32: " + std::to_string(64 * 784 * 4) + " bytes"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("PSNR"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("ratio: "), std::string::npos) << c.out;
  RunResult q = run_ok(dir, {"compress", "--model", model, "--data", TEST_IMAGES, "--max-rows", "64", "--quantize", "8", "--out",
                             dir / "q.aec"});
  EXPECT_NE(q.out.find("8-bit quantised"), std::string::npos) << q.out;
  EXPECT_NE(q.out.find("from the float32 codes, for comparison"), std::string::npos) << q.out;
  EXPECT_LT(fs::file_size(dir / "q.aec"), fs::file_size(dir / "c.aec") / 3);
  run_ok(dir, {"decompress", "--model", model, "--codes", dir / "c.aec", "--out", dir / "y.npy", "--quiet"});
  run_ok(dir, {"decompress", "--model", model, "--codes", dir / "q.aec", "--out", dir / "yq.npy", "--quiet"});
  run_ok(dir, {"reconstruct", "--model", model, "--data", TEST_IMAGES, "--max-rows", "64", "--out", dir / "rec.npy", "--quiet"});
  const Matrix y = read_npy(dir / "y.npy"), yq = read_npy(dir / "yq.npy"), rec = read_npy(dir / "rec.npy");
  ASSERT_EQ(y.rows, 64);
  ASSERT_EQ(y.cols, 784);
  double worst = 0, worst_q = 0;
  for (size_t i = 0; i < rec.data.size(); ++i) {
    worst = std::max(worst, double(std::abs(y.data[i] - rec.data[i])));
    worst_q = std::max(worst_q, double(std::abs(yq.data[i] - rec.data[i])));
  }
  EXPECT_LT(worst, 1e-5) << "float32 codes decode to the reconstruction";
  EXPECT_LT(worst_q, 0.1) << "8-bit codes decode close to it";
}

// Item 8 of issue 14: bad inputs are one line naming the flag or file, exit 1, nothing written.
TEST(HashCli, BadInputIsOneLineAndWritesNothing) {
  ScratchDir dir;
  const std::string model = dir / "m.st", other = dir / "other.st";
  train(dir, model);
  train(dir, other, "784-32r-12-32r-784s");
  const std::string out = dir / "h.npy", r = dir / "r.csv";
  const std::vector<std::string> data = {"--data", TEST_IMAGES, "--max-rows", "50", "--quiet"};
  auto hash = [&](std::vector<std::string> more) {
    std::vector<std::string> a = {"hash", "--model", model, "--out", out};
    a.insert(a.end(), data.begin(), data.end());
    a.insert(a.end(), more.begin(), more.end());
    return a;
  };
  expect_one_line_error(dir, hash({"--bits", "0"}), "--bits 0");
  expect_one_line_error(dir, hash({"--bits", "-3"}), "--bits -3");
  expect_one_line_error(dir, hash({"--bits", "17"}), "--bits 17: " + model + "'s code has only 16 units");

  // A model file from before ae recorded the medians: --fit is the way out.
  ModelFile f = load_model_file(model);
  f.metadata.erase("ae.code_stats");
  const std::string old = dir / "old.st";
  save_model_file(old, f);
  expect_one_line_error(dir, {"hash", "--model", old, "--data", TEST_IMAGES, "--max-rows", "50", "--out", out},
                        "records no training medians");
  expect_one_line_error(dir, {"hash", "--model", old, "--data", TEST_IMAGES, "--max-rows", "50", "--out", out}, "--fit FILE");

  write_bytes(dir / "short-labels.csv", "label\n1\n2\n3\n");
  auto retrieve = [&](std::vector<std::string> more, const std::string& query = TEST_IMAGES) {
    std::vector<std::string> a = {"retrieve", "--model", model, "--database", TRAIN_IMAGES, "--query", query,
                                  "--max-rows", "40", "--out", r, "--quiet"};
    a.insert(a.end(), more.begin(), more.end());
    return a;
  };
  expect_one_line_error(dir, retrieve({"--top", "0"}), "--top 0");
  expect_one_line_error(dir, retrieve({"--top", "-2"}), "--top -2");
  expect_one_line_error(dir, retrieve({"--top", "41"}), "--top 41: larger than the 40 rows of --database");
  expect_one_line_error(dir, retrieve({"--top", "5", "--bits", "99"}), "--bits 99");
  expect_one_line_error(dir, retrieve({"--top", "5", "--database-labels", dir / "short-labels.csv", "--query-labels", TEST_LABELS}),
                        "--database-labels " + dir / "short-labels.csv" + ": 3 labels for the 40 rows of --database");
  expect_one_line_error(dir, retrieve({"--top", "5", "--database-labels", TRAIN_LABELS, "--query-labels", dir / "short-labels.csv"}),
                        "--query-labels " + dir / "short-labels.csv" + ": 3 labels for the 40 rows of --query");
  expect_one_line_error(dir, retrieve({"--top", "5", "--database-labels", TRAIN_LABELS}), "--database-labels needs --query-labels");
  expect_one_line_error(dir, retrieve({"--top", "5"}, dir / "missing.npy"), "--query " + dir / "missing.npy");

  // compress / decompress
  const std::string aec = dir / "c.aec";
  expect_one_line_error(dir, {"compress", "--model", model, "--data", TEST_IMAGES, "--max-rows", "20", "--quantize", "4", "--out", aec},
                        "--quantize 4");
  run_ok(dir, {"compress", "--model", model, "--data", TEST_IMAGES, "--max-rows", "20", "--out", aec});
  expect_one_line_error(dir, {"decompress", "--model", other, "--codes", aec, "--out", dir / "y.npy"},
                        "--codes " + aec + " was written by another model");
  const std::string bytes = read_text(aec);
  write_bytes(dir / "cut.aec", bytes.substr(0, bytes.size() / 2));
  expect_one_line_error(dir, {"decompress", "--model", model, "--codes", dir / "cut.aec", "--out", dir / "y.npy"},
                        dir / "cut.aec" + ": truncated .aec file");
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x40;
  write_bytes(dir / "flip.aec", flipped);
  expect_one_line_error(dir, {"decompress", "--model", model, "--codes", dir / "flip.aec", "--out", dir / "y.npy"},
                        dir / "flip.aec" + ": corrupt .aec file");
  expect_one_line_error(dir, {"decompress", "--model", model, "--codes", TEST_IMAGES, "--out", dir / "y.npy"},
                        TEST_IMAGES + ": not an .aec codes file");
}

}  // namespace
}  // namespace ae::e2e
