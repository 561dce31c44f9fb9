// Faults while writing, through the real `ae` binary under a file-size limit (as
// `prlimit --fsize=N ae ...`): train --out, the checkpoint, --log-json, encode/decode/reconstruct
// and corrupt --out (.npy and .csv), score --out and --per-feature, hash, retrieve, compress and
// decompress --out, and stdout. Each must end with exactly one
// line on stderr naming the file and the cause, exit 1 (not killed by SIGXFSZ), leave the previous
// file at that path byte for byte and leave no temporary file. A full disk (ENOSPC) takes the same
// path through AtomicFile; making one needs root (a small tmpfs), the size limit does not.
#include <gtest/gtest.h>

#include <map>

#include "host/data/npy.h"
#include "tests/e2e/e2e_util.h"

namespace ae::e2e {
namespace {

const std::string SPEC = "64-16r-64";  // model ≈ 9 KB, its adam checkpoint ≈ 27 KB

class WriteFaults : public ::testing::Test {
 protected:
  ScratchDir dir;

  void SetUp() override {
    std::vector<float> x(size_t(2000 * 64));
    for (size_t i = 0; i < x.size(); ++i) x[i] = float((i * 7919) % 1000) / 1000.0f;
    save_npy(dir / "x.npy", x.data(), 2000, 64);
  }
  std::string x() const { return dir / "x.npy"; }

  RunResult ok(const std::vector<std::string>& args) {
    RunResult r = run_ae(args, dir);
    EXPECT_EQ(r.exit_code, 0) << r.command << "\nstderr: " << r.err;
    return r;
  }
  std::vector<std::string> train_args(const std::string& out, const std::string& seed, const std::string& steps = "4",
                                      const std::vector<std::string>& more = {}) const {
    std::vector<std::string> a = {"train", "--spec", SPEC, "--data", x(), "--no-val", "--steps", steps, "--batch", "64",
                                  "--threads", "1", "--seed", seed, "--quiet", "--out", out};
    a.insert(a.end(), more.begin(), more.end());
    return a;
  }
  std::map<std::string, std::string> snapshot() const {
    std::map<std::string, std::string> files;
    for (const auto& name : dir.list()) files[name] = read_text(dir / name);
    return files;
  }
  // Runs `args` under `limit` bytes: one-line error naming `path`, exit 1, every file of the
  // directory exactly as it was before (so no temporary is left either).
  void expect_write_fault(const std::vector<std::string>& args, long long limit, const std::string& path) {
    const auto before = snapshot();
    RunResult r = run_ae(args, dir, limit);
    EXPECT_EQ(r.exit_code, 1) << r.command << " (153 = killed by SIGXFSZ)\nstderr: " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "not one line: " << r.err;
    EXPECT_EQ(r.err.rfind("ae: error: cannot write '" + path + "': File too large after writing ", 0), 0u) << r.err;
    const auto after = snapshot();
    EXPECT_EQ(after.size(), before.size()) << "files added or removed: " << r.command;
    for (const auto& [name, bytes] : before) {
      auto it = after.find(name);
      ASSERT_NE(it, after.end()) << name << " disappeared";
      EXPECT_TRUE(it->second == bytes) << name << " changed";
    }
  }
};

TEST_F(WriteFaults, TrainOutKeepsThePreviousModel) {
  const std::string m = dir / "m.safetensors";
  ok(train_args(m, "1", "4", {"--checkpoint", "none"}));
  // Another seed: a different model would replace it.
  expect_write_fault(train_args(m, "2", "4", {"--checkpoint", "none"}), 4096, m);
}

TEST_F(WriteFaults, CheckpointKeepsThePreviousCheckpoint) {
  const std::string m = dir / "m.safetensors", ck = dir / "m.safetensors.ckpt";
  ok(train_args(m, "1"));  // writes the model and its checkpoint (default OUT.ckpt)
  ASSERT_TRUE(fs::exists(ck));
  // The model (≈ 9 KB) would fit under 16 KB, the checkpoint (≈ 27 KB) does not; it is written
  // first, at the end of the epoch.
  expect_write_fault(train_args(m, "2"), 16384, ck);
}

// --log-json's temporary is open for the whole run and committed after the model. The model's
// history holds every logged line (JSON-escaped, so it is the bigger file): under a limit the
// model fails first, and the run must still take the log's temporary with it and keep the old
// log. (A failing log commit itself is the buffered-commit case of tests/runtime/write_faults_test.)
TEST_F(WriteFaults, LogJsonKeepsThePreviousLog) {
  const std::string m = dir / "m.safetensors", log = dir / "log.jsonl";
  const auto a = train_args(m, "1", "300", {"--checkpoint", "none", "--log-json", log, "--log-every", "1"});
  ok(a);
  ASSERT_GT(read_text(log).size(), 16384u);
  expect_write_fault(train_args(m, "2", "300", {"--checkpoint", "none", "--log-json", log, "--log-every", "1"}), 16384, m);
}

TEST_F(WriteFaults, InferenceOutputsKeepThePreviousFile) {
  const std::string m = dir / "m.safetensors";
  ok(train_args(m, "1"));
  ok({"encode", "--model", m, "--data", x(), "--out", dir / "codes.npy", "--quiet"});
  for (const char* cmd : {"encode", "decode", "reconstruct"})
    for (const char* ext : {".npy", ".csv"}) {
      SCOPED_TRACE(std::string(cmd) + " " + ext);
      const std::string out = dir / (std::string(cmd) + "_out" + ext);
      const std::string in_flag = std::string(cmd) == "decode" ? "--codes" : "--data";
      const std::string in = std::string(cmd) == "decode" ? dir / "codes.npy" : x();
      std::vector<std::string> args = {cmd, "--model", m, in_flag, in, "--out", out, "--threads", "1", "--quiet"};
      if (std::string(cmd) != "encode") ok(args);  // an old output to keep (encode: a new file)
      expect_write_fault(args, 8192, out);
    }
}

TEST_F(WriteFaults, ScoreOutputsKeepThePreviousFile) {
  const std::string m = dir / "m.safetensors", scores = dir / "scores.csv", per = dir / "per.npy";
  ok(train_args(m, "1"));
  ok({"score", "--model", m, "--data", x(), "--out", scores, "--per-feature", per, "--quiet"});
  // scores.csv ≈ 30 KB, the per-feature file ≈ 500 KB and written first.
  expect_write_fault({"score", "--model", m, "--data", x(), "--out", scores, "--quiet"}, 8192, scores);
  expect_write_fault({"score", "--model", m, "--data", x(), "--out", scores, "--per-feature", per, "--quiet"}, 65536, per);
}

TEST_F(WriteFaults, CorruptOutKeepsThePreviousFile) {
  for (const char* ext : {".npy", ".csv"}) {
    SCOPED_TRACE(ext);
    const std::string out = dir / (std::string("noisy") + ext);
    ok({"corrupt", "--data", x(), "--noise", "mask:0.2", "--out", out, "--threads", "1"});
    expect_write_fault({"corrupt", "--data", x(), "--noise", "mask:0.2", "--seed", "2", "--out", out, "--threads", "1"}, 8192, out);
  }
}

TEST_F(WriteFaults, HashingAndCompressionOutputsKeepThePreviousFile) {
  const std::string m = dir / "m.safetensors";
  ok(train_args(m, "1"));
  // 2000 rows: hash 4 KB, retrieve ≈ 100 KB of CSV, compress 128 KB, decompress 512 KB.
  const std::vector<std::vector<std::string>> runs = {
      {"hash", "--model", m, "--data", x(), "--out", dir / "h.npy", "--quiet"},
      {"retrieve", "--model", m, "--database", x(), "--query", x(), "--top", "5", "--out", dir / "r.csv", "--quiet"},
      {"compress", "--model", m, "--data", x(), "--out", dir / "c.aec", "--quiet"},
      {"decompress", "--model", m, "--codes", dir / "c.aec", "--out", dir / "y.npy", "--quiet"}};
  for (const auto& args : runs) {
    SCOPED_TRACE(args[0]);
    ok(args);  // an old output to keep
    expect_write_fault(args, 1024, args[args.size() - 2]);
  }
}

// stdout is output too: a report cut short by the limit is an error, not a silent truncation.
TEST_F(WriteFaults, StdoutUnderALimitIsAnError) {
  RunResult r = run_ae({"plan", "--spec", "784-256r-32-256r-784s", "--batch", "256"}, dir, 256);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.err, "ae: error: cannot write to standard output: File too large\n");
}

}  // namespace
}  // namespace ae::e2e
