// `ae knn` and `ae cluster` through the real binary on a Fashion-MNIST subset: the figures they
// print are real fractions that a model's codes and the raw pixels both reach well above chance,
// the output files hold one line per row, and every bad input is a one-line error naming the flag
// and file, with nothing written.
#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <vector>

#include "tests/e2e/e2e_util.h"

namespace ae::e2e {
namespace {

const std::string TRAIN_LABELS = FASHION_DIR + "train-labels-idx1-ubyte.gz";
const std::string TEST_LABELS = FASHION_DIR + "t10k-labels-idx1-ubyte.gz";

// A small model trained for two epochs on 2000 images, batch 100: enough for codes that carry
// the classes far above chance (0.1).
std::string trained_model(const ScratchDir& dir) {
  const std::string model = dir / "m.st";
  expect_success(run_ae({"train", "--data", TRAIN_IMAGES, "--max-rows", "2000", "--batch", "100", "--epochs", "2", "--no-val",
                         "--spec", "784-64r-12-64r-784s", "--threads", "1", "--quiet", "--checkpoint", "none", "--out", model},
                        dir));
  return model;
}

// The number after `key` on the first line of `text` that has it.
double figure(const std::string& text, const std::string& key) {
  std::smatch m;
  const std::regex re(key + " ([0-9.]+)");
  if (!std::regex_search(text, m, re)) return -1;
  return std::stod(m[1]);
}

TEST(LatentCli, KnnOnCodesAndRawPixels) {
  ScratchDir dir;
  const std::string model = trained_model(dir), out = dir / "pred.csv";
  RunResult r = run_ae({"knn", "--model", model, "--train", TRAIN_IMAGES, "--train-labels", TRAIN_LABELS, "--max-rows", "2000",
                        "--test", TEST_IMAGES, "--test-labels", TEST_LABELS, "--test-rows", "300", "--k", "5", "--compare-raw",
                        "--out", out, "--threads", "1", "--quiet"},
                       dir);
  expect_success(r);
  const auto codes_at = r.out.find("codes of"), raw_at = r.out.find("raw features");
  ASSERT_NE(codes_at, std::string::npos) << r.out;
  ASSERT_NE(raw_at, std::string::npos) << r.out;
  const double codes = figure(r.out.substr(codes_at), "accuracy"), raw = figure(r.out.substr(raw_at), "accuracy");
  EXPECT_GT(codes, 0.5) << r.out;  // 10 classes: chance is 0.1
  EXPECT_LE(codes, 1.0);
  EXPECT_GT(raw, 0.5) << r.out;
  const std::string csv = read_text(out);
  EXPECT_EQ(csv.rfind("row,label,predicted\n", 0), 0u);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 301);
  // The accuracy printed is the one the file holds.
  std::istringstream in(csv);
  std::string line;
  std::getline(in, line);
  int hit = 0;
  while (std::getline(in, line)) {
    const auto a = line.find(','), b = line.rfind(',');
    hit += line.substr(a + 1, b - a - 1) == line.substr(b + 1);
  }
  EXPECT_NEAR(hit / 300.0, codes, 1e-4);
}

TEST(LatentCli, ClusterOnCodesAndRawPixels) {
  ScratchDir dir;
  const std::string model = trained_model(dir), out = dir / "assign.csv";
  RunResult r = run_ae({"cluster", "--model", model, "--data", TEST_IMAGES, "--labels", TEST_LABELS, "--max-rows", "1000",
                        "--restarts", "2", "--compare-raw", "--out", out, "--threads", "2", "--quiet"},
                       dir);
  expect_success(r);
  EXPECT_NE(r.out.find("k = 10 (the number of classes)"), std::string::npos) << r.out;
  const auto raw_at = r.out.find("raw features");
  ASSERT_NE(raw_at, std::string::npos) << r.out;
  for (const std::string& part : {r.out.substr(0, raw_at), r.out.substr(raw_at)}) {
    EXPECT_GT(figure(part, "ACC"), 0.3) << r.out;
    EXPECT_LE(figure(part, "ACC"), 1.0);
    EXPECT_GT(figure(part, "NMI"), 0.2) << r.out;
    EXPECT_LE(figure(part, "NMI"), 1.0);
  }
  const std::string csv = read_text(out);
  EXPECT_EQ(csv.rfind("row,cluster,label\n", 0), 0u);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1001);
  // Seeded: a second run writes the same assignments.
  const std::string again = dir / "again.csv";
  expect_success(run_ae({"cluster", "--model", model, "--data", TEST_IMAGES, "--labels", TEST_LABELS, "--max-rows", "1000",
                         "--restarts", "2", "--out", again, "--threads", "1", "--quiet"},
                        dir));
  EXPECT_EQ(read_text(again), csv);
}

TEST(LatentCli, BadInputIsOneLineNamingTheFlag) {
  ScratchDir dir;
  const std::string model = trained_model(dir);
  const std::string short_labels = dir / "short.csv";
  {
    std::ofstream f(short_labels);
    for (int i = 0; i < 99; ++i) f << i % 10 << "\n";
  }
  const std::vector<std::string> knn = {"knn", "--model", model, "--train", TRAIN_IMAGES, "--train-labels", TRAIN_LABELS,
                                        "--max-rows", "100", "--test", TEST_IMAGES, "--test-labels", TEST_LABELS, "--test-rows", "10",
                                        "--out", dir / "p.csv", "--quiet"};
  auto with = [](std::vector<std::string> base, const std::vector<std::string>& more) {
    base.insert(base.end(), more.begin(), more.end());
    return base;
  };
  expect_one_line_error(dir, with(knn, {"--k", "0"}), "--k must be ≥ 1");
  expect_one_line_error(dir, with(knn, {"--k", "101"}), "--k 101: more neighbours than the 100 rows of --train");
  expect_one_line_error(dir, with(knn, {"--metric", "manhattan"}), "--metric manhattan: unknown metric");
  std::vector<std::string> bad_labels = knn;
  bad_labels[6] = short_labels;
  bad_labels[8] = "-1";  // every training row: 60000 rows against 99 labels
  expect_one_line_error(dir, bad_labels, "--train-labels " + short_labels + ": 99 labels for the 60000 rows of --train");
  const std::vector<std::string> cl = {"cluster", "--model", model, "--data", TEST_IMAGES, "--max-rows", "50", "--quiet",
                                       "--out", dir / "a.csv"};
  expect_one_line_error(dir, cl, "--k: give the number of clusters");
  expect_one_line_error(dir, with(cl, {"--k", "51"}), "--k 51: must be between 1 and the 50 rows of --data");
  std::vector<std::string> cl100 = cl;
  cl100[6] = "100";
  expect_one_line_error(dir, with(cl100, {"--labels", short_labels}), "--labels " + short_labels + ": 99 labels for the 100 rows of --data");
  expect_one_line_error(dir, with(cl, {"--k", "3", "--restarts", "0"}), "--restarts must be ≥ 1");
  // Labels of text are refused naming the flag and asking for class numbers, not `ae score`'s 0/1.
  const std::string text_labels = dir / "text.csv";
  {
    std::ofstream f(text_labels);
    for (int i = 0; i < 50; ++i) f << (i % 2 ? "cat" : "dog") << "\n";
  }
  expect_one_line_error(dir, with(cl, {"--labels", text_labels}), "--labels " + text_labels + ":");
  expect_one_line_error(dir, with(cl, {"--labels", text_labels}), "--labels expects one integer class label per row");
  std::vector<std::string> text_train = knn;
  text_train[6] = text_labels;
  text_train[8] = "50";
  expect_one_line_error(dir, text_train, "--train-labels " + text_labels + ":");
}

}  // namespace
}  // namespace ae::e2e
