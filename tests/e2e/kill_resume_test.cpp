// Faults: `ae train` killed with SIGKILL — twice, at moments drawn from a seeded RNG while it
// trains and checkpoints — and resumed each time, ends with weights bit-identical to an
// uninterrupted run; no kill ever leaves a model or checkpoint that fails to load.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <thread>

#include "runtime/model_file.h"
#include "tests/e2e/e2e_util.h"

namespace ae::e2e {
namespace {

std::vector<std::string> train_args(const ScratchDir& dir, bool resume) {
  std::vector<std::string> a = {"train", "--data", TRAIN_IMAGES, "--max-rows", "3000", "--no-val", "--spec",
                                "784-64r-16-64r-784s", "--epochs", "40", "--batch", "64", "--threads", "1",
                                "--checkpoint-every", "5", "--out", dir / "model.safetensors", "--quiet"};
  if (resume) a.push_back("--resume");
  return a;
}

pid_t spawn(const std::vector<std::string>& args) {
  pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> argv = {const_cast<char*>(AE_CLI.c_str())};
    for (const auto& s : args) argv.push_back(const_cast<char*>(s.c_str()));
    argv.push_back(nullptr);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execv(AE_CLI.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Kills the run once a checkpoint newer than `after` exists, after a further random delay.
bool kill_mid_run(const std::vector<std::string>& args, const std::string& ckpt, std::mt19937& rng) {
  auto before = fs::exists(ckpt) ? fs::last_write_time(ckpt) : fs::file_time_type::min();
  pid_t pid = spawn(args);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    if (fs::exists(ckpt) && fs::last_write_time(ckpt) > before) break;
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) return false;  // finished before we could kill it
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 400)(rng)));
  kill(pid, SIGKILL);
  return wait_exit(pid) == 128 + SIGKILL;
}

std::vector<NamedTensor> weights(const std::string& path) {
  ModelFile f = load_model_file(path);
  std::vector<NamedTensor> w;
  for (auto& t : f.tensors)
    if (t.name.rfind("encoder.", 0) == 0 || t.name.rfind("decoder.", 0) == 0) w.push_back(std::move(t));
  return w;
}

TEST(Faults, KilledTwiceAndResumedEqualsUninterrupted) {
  if (!fs::exists(TRAIN_IMAGES)) GTEST_FAIL() << "Fashion-MNIST is missing: run cmake/install-deps.sh";
  ScratchDir ref_dir, dir;
  RunResult ref = run_ae(train_args(ref_dir, false), ref_dir);
  ASSERT_EQ(ref.exit_code, 0) << ref.err;

  std::mt19937 rng(20261123);
  const std::string ckpt = dir / "model.safetensors.ckpt";
  int kills = 0;
  for (int round = 0; round < 2; ++round) {
    if (kill_mid_run(train_args(dir, round > 0), ckpt, rng)) ++kills;
    // Whatever the moment of the kill, the checkpoint on disk loads, and no model was written.
    ASSERT_TRUE(fs::exists(ckpt));
    EXPECT_NO_THROW(load_model_file(ckpt));
  }
  EXPECT_EQ(kills, 2) << "the run finished before it could be killed: make it longer";
  RunResult fin = run_ae(train_args(dir, true), dir);
  ASSERT_EQ(fin.exit_code, 0) << fin.err;
  auto a = weights(ref_dir / "model.safetensors"), b = weights(dir / "model.safetensors");
  ASSERT_EQ(a.size(), 8u);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].name, b[i].name);
    EXPECT_EQ(a[i].shape, b[i].shape);
    EXPECT_TRUE(a[i].data == b[i].data) << a[i].name << " differs after two kills and resumes";
  }
  // Stale temporaries of the killed writers were cleaned up by the resumes.
  for (const auto& name : dir.list()) EXPECT_EQ(name.find(".tmp."), std::string::npos) << name;
}

}  // namespace
}  // namespace ae::e2e
