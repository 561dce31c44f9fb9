// Faults while writing: every writer (model file, NPY, CSV, AtomicFile itself) run in a forked
// child under a file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored so write(2) fails with EFBIG, as a
// full disk fails with ENOSPC) must throw one line naming the file and the cause, leave the
// previous file at that path byte for byte, and leave no temporary beside it. A full disk itself
// needs a small filesystem (a tmpfs needs root), so the size limit stands in for it: both take the
// same path through AtomicFile, write(2) returning -1.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "host/data/csv.h"
#include "host/data/npy.h"
#include "kernels/common/error.h"
#include "runtime/atomic_file.h"
#include "runtime/model.h"
#include "runtime/model_file.h"
#include "tests/temp_dir.h"

namespace ae {
namespace {

using test::read_all;
using test::TempDir;

struct ChildResult {
  bool threw = false;   // the writer threw ae::Error
  std::string message;  // its what()
};

// Runs `write` in a forked child whose files may not grow past `limit` bytes. The child only
// writes files (no OpenMP), so forking a multi-threaded test process is safe.
ChildResult write_under_limit(rlim_t limit, const std::function<void()>& write) {
  int fds[2];
  if (::pipe(fds) != 0) ADD_FAILURE() << "pipe failed";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    ::signal(SIGXFSZ, SIG_IGN);
    const rlimit rl{limit, limit};
    if (::setrlimit(RLIMIT_FSIZE, &rl) != 0) ::_exit(3);
    int code = 1;  // returned normally: nothing thrown
    std::string msg;
    try {
      write();
    } catch (const Error& e) {
      code = 0;
      msg = e.what();
    } catch (...) {
      code = 2;
    }
    const ssize_t n = ::write(fds[1], msg.data(), msg.size());
    ::_exit(n == ssize_t(msg.size()) ? code : 4);
  }
  ::close(fds[1]);
  ChildResult r;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) r.message.append(buf, size_t(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status)) << "writer child killed by signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  EXPECT_NE(WEXITSTATUS(status), 2) << "the writer threw something other than ae::Error";
  EXPECT_NE(WEXITSTATUS(status), 3) << "setrlimit failed";
  r.threw = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  return r;
}

// The fault is one line naming the file, the OS reason and how far the write got.
void expect_fault_message(const ChildResult& r, const std::string& path) {
  ASSERT_TRUE(r.threw) << "writing " << path << " under the limit did not fail";
  EXPECT_EQ(r.message.find('\n'), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("cannot write '" + path + "': File too large after writing "), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("ulimit -f"), std::string::npos) << r.message;
}

std::vector<float> ramp(size_t n, float scale) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = scale * float(i % 1000) / 7.0f;
  return v;
}

ModelFile big_model_file(float scale) {
  ModelFile f;
  f.metadata["ae.note"] = "write fault test";
  f.tensors.push_back({"w", {300, 200}, ramp(60000, scale)});  // 240 000 bytes of data
  f.tensors.push_back({"b", {200}, ramp(200, scale)});
  return f;
}

TEST(WriteFaults, ModelFileOverAnOldOneKeepsItByteForByte) {
  TempDir dir;
  const std::string p = dir.file("m.safetensors");
  save_model_file(p, big_model_file(1.0f));
  const std::string before = read_all(p);
  ChildResult r = write_under_limit(16384, [&] { save_model_file(p, big_model_file(2.0f)); });
  expect_fault_message(r, p);
  // The expected size is known to the model writer: "after writing N of M bytes".
  EXPECT_NE(r.message.find(" of "), std::string::npos) << r.message;
  EXPECT_EQ(read_all(p), before) << "the previous model file changed";
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"m.safetensors"}) << "a temporary file was left";
  // And the old file still loads.
  EXPECT_EQ(load_model_file(p).tensors.size(), 2u);
}

TEST(WriteFaults, ModelSaveOfANewFileLeavesNothing) {
  TempDir dir;
  const std::string p = dir.file("new.safetensors");
  Model m = Model::create(parse_spec("64-16r-64"), 3, Loss::mse);
  ChildResult r = write_under_limit(1024, [&] { m.save(p); });
  expect_fault_message(r, p);
  EXPECT_TRUE(dir.entries().empty());
  // Without the limit the same call succeeds: the limit was the only cause.
  m.save(p);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"new.safetensors"});
}

// The rename that publishes an output replaces whatever the path names: a device, a directory or a
// FIFO there is refused before anything is written, and left as it was.
TEST(WriteFaults, AnOutputOverANonRegularFileIsRefused) {
  TempDir dir;
  const std::string fifo = dir.file("pipe");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  Model m = Model::create(parse_spec("64-16r-64"), 3, Loss::mse);
  for (const std::string& p : {std::string("/dev/null"), fifo, dir.path().string()}) {
    try {
      m.save(p);
      ADD_FAILURE() << "saved over " << p;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("is not a regular file"), std::string::npos) << e.what();
    }
  }
  struct stat st{};
  ASSERT_EQ(::stat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode)) << "/dev/null is no longer a device";
  ASSERT_EQ(::stat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"pipe"}) << "a temporary file was left";
}

TEST(WriteFaults, NpyAndCsvOutputsKeepThePreviousFile) {
  TempDir dir;
  const std::vector<float> old_rows = ramp(4000 * 8, 1.0f), new_rows = ramp(4000 * 8, 3.0f);
  for (const char* name : {"codes.npy", "codes.csv"}) {
    SCOPED_TRACE(name);
    const std::string p = dir.file(name);
    const bool npy = std::string(name).ends_with(".npy");
    auto save = [&](const std::vector<float>& v) {
      if (npy) save_npy(p, v.data(), 4000, 8);
      else save_csv(p, v.data(), 4000, 8, {"a", "b", "c", "d", "e", "f", "g", "h"});
    };
    save(old_rows);
    const std::string before = read_all(p);
    ChildResult r = write_under_limit(8192, [&] { save(new_rows); });
    expect_fault_message(r, p);
    EXPECT_EQ(read_all(p), before);
  }
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"codes.csv", "codes.npy"}));
}

// Small writes stay in AtomicFile's buffer until commit(): the fault surfaces there, and the
// same guarantees hold. A limit of 0 fails the very first write(2).
TEST(WriteFaults, FaultAtCommitOfBufferedBytes) {
  TempDir dir;
  const std::string p = dir.file("log.jsonl");
  {
    AtomicFile f(p);
    f.write("old\n");
    f.commit();
  }
  for (rlim_t limit : {rlim_t(0), rlim_t(100)}) {
    SCOPED_TRACE("limit " + std::to_string(limit));
    ChildResult r = write_under_limit(limit, [&] {
      AtomicFile f(p);
      for (int i = 0; i < 50; ++i) f.write("{\"step\": 1, \"train_loss\": 0.5}\n");
      f.commit();
    });
    expect_fault_message(r, p);
    EXPECT_NE(r.message.find("after writing " + std::to_string(limit) + " bytes"), std::string::npos) << r.message;
    EXPECT_EQ(read_all(p), "old\n");
    EXPECT_EQ(dir.entries(), std::vector<std::string>{"log.jsonl"});
  }
}

}  // namespace
}  // namespace ae
