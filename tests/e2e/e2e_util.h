// Helpers of the end-to-end tests: a scratch directory per test, running the real `ae` binary
// with its stdout and stderr captured, checking it succeeded, and small file utilities (read,
// list, write IDX, JSON lines, a model file's spec).
#pragma once

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "runtime/model_file.h"

namespace ae::e2e {

namespace fs = std::filesystem;

inline const std::string FASHION_DIR = "/usr/share/datasets/fashion-mnist/";
inline const std::string TRAIN_IMAGES = FASHION_DIR + "train-images-idx3-ubyte.gz";
inline const std::string TEST_IMAGES = FASHION_DIR + "t10k-images-idx3-ubyte.gz";
inline const std::string AE_CLI = AE_BINARY_DIR "/ae";

// A fresh directory named after the running test, removed when the test ends (kept on failure,
// so the files that made it fail can be inspected).
class ScratchDir {
 public:
  ScratchDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string("ae_e2e_") + (info ? std::string(info->test_suite_name()) + "_" + info->name() : "x") + "_" +
                       std::to_string(::getpid());
    for (char& c : name)
      if (c == '/') c = '_';
    m_path = fs::temp_directory_path() / name;
    fs::remove_all(m_path);
    fs::create_directories(m_path);
  }
  ~ScratchDir() {
    if (!::testing::Test::HasFailure()) {
      std::error_code ec;
      fs::remove_all(m_path, ec);
    }
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  std::string operator/(const std::string& name) const { return (m_path / name).string(); }
  const fs::path& path() const { return m_path; }
  // Every entry of the directory, names only, sorted.
  std::vector<std::string> list() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(m_path)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  fs::path m_path;
};

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

struct RunResult {
  int exit_code = -1;  // the process's exit status; 128 + signal when it was killed by one
  std::string out, err;
  // The command line, for failure messages.
  std::string command;
};

// Runs the `ae` binary with `args` (no shell: arguments are passed as they are), stdout and
// stderr captured through files in `dir`. `fsize_limit` ≥ 0 runs it as `prlimit --fsize=N` would:
// no file it writes (its captured stdout and stderr included) may grow past N bytes; SIGXFSZ
// keeps its default action, so only a binary that ignores it sees write(2) fail with EFBIG.
inline RunResult run_ae(const std::vector<std::string>& args, const ScratchDir& dir, long long fsize_limit = -1) {
  RunResult r;
  r.command = AE_CLI;
  for (const auto& a : args) r.command += " " + a;
  const std::string out_path = (dir.path().parent_path() / (dir.path().filename().string() + ".stdout")).string();
  const std::string err_path = (dir.path().parent_path() / (dir.path().filename().string() + ".stderr")).string();
  std::vector<char*> argv;
  std::vector<std::string> storage = {AE_CLI};
  storage.insert(storage.end(), args.begin(), args.end());
  for (auto& s : storage) argv.push_back(s.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (!std::freopen(out_path.c_str(), "w", stdout) || !std::freopen(err_path.c_str(), "w", stderr)) ::_exit(126);
    if (fsize_limit >= 0) {
      const rlimit rl{rlim_t(fsize_limit), rlim_t(fsize_limit)};
      if (::setrlimit(RLIMIT_FSIZE, &rl) != 0) ::_exit(125);
    }
    ::execv(AE_CLI.c_str(), argv.data());
    ::_exit(127);
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_text(out_path);
  r.err = read_text(err_path);
  fs::remove(out_path);
  fs::remove(err_path);
  return r;
}

// The run exited with status 0; the failure shows the command line and its stderr.
inline void expect_success(const RunResult& r) {
  EXPECT_EQ(r.exit_code, 0) << r.command << "\nstderr: " << r.err;
}

// A bad setting: exit status 1, one line on stderr starting "ae: error: " and containing `needle`,
// and nothing written into `dir`.
inline void expect_one_line_error(const ScratchDir& dir, const std::vector<std::string>& args, const std::string& needle) {
  const auto before = dir.list();
  RunResult r = run_ae(args, dir);
  EXPECT_EQ(r.exit_code, 1) << r.command;
  EXPECT_EQ(r.err.rfind("ae: error: ", 0), 0u) << r.command << "\n" << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.command << "\n" << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(dir.list(), before) << r.command;
}

// Each line of a file parsed as JSON (a --log-json log); a line that is not JSON throws, failing the test.
inline std::vector<nlohmann::json> json_lines(const std::string& path) {
  std::vector<nlohmann::json> v;
  std::istringstream in(read_text(path));
  for (std::string line; std::getline(in, line);) v.push_back(nlohmann::json::parse(line));
  return v;
}

// The spec recorded in a model file's metadata (ae.spec), as JSON.
inline nlohmann::json spec_json(const std::string& model) {
  return nlohmann::json::parse(load_model_file(model).metadata.at("ae.spec"));
}

// An IDX file of u8 images: magic 0x00000803, dims [n, h, w] big-endian, then n·h·w bytes.
// `type` and `first_byte` let a test break the magic on purpose.
inline std::string idx_u8(uint32_t n, uint32_t h, uint32_t w, const std::vector<uint8_t>& pixels, uint8_t type = 0x08,
                          uint8_t first_byte = 0) {
  std::string b = {char(first_byte), 0, char(type), 3};
  for (uint32_t d : {n, h, w}) {
    b.push_back(char(d >> 24));
    b.push_back(char(d >> 16));
    b.push_back(char(d >> 8));
    b.push_back(char(d));
  }
  b.append(reinterpret_cast<const char*>(pixels.data()), pixels.size());
  return b;
}

}  // namespace ae::e2e
