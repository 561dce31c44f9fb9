// Input-file checks and whole-file reads shared by the CSV, NPY and dataset readers.
#include "host/data/file_read.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "kernels/common/error.h"

namespace ae {

namespace {

// Owns a read-only descriptor; closed on every path out, including exceptions.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

uint64_t open_checked(const std::string& path, const char* kind, Fd& f) {
  if (path.empty()) AE_FAIL("empty file name; expected ", kind);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT) AE_FAIL(path, ": no such file");
    AE_FAIL(path, ": cannot open: ", std::strerror(err));
  }
  if (S_ISDIR(st.st_mode)) AE_FAIL(path, ": is a directory; expected ", kind);
  if (!S_ISREG(st.st_mode)) AE_FAIL(path, ": not a regular file; expected ", kind);
  if (st.st_size == 0) AE_FAIL(path, ": empty file (0 bytes); expected ", kind);
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd < 0) {
    const int err = errno;
    AE_FAIL(path, ": cannot open: ", std::strerror(err));
  }
  return static_cast<uint64_t>(st.st_size);
}

// Reads up to n bytes at `offset`; fewer only when the file is shorter.
size_t read_fully(const std::string& path, int fd, char* dst, size_t n, uint64_t offset = 0) {  // dst: [n]
  size_t done = 0;
  while (done < n) {
    const ssize_t got = ::pread(fd, dst + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      AE_FAIL(path, ": read error: ", std::strerror(err));
    }
    if (got == 0) break;
    done += static_cast<size_t>(got);
  }
  return done;
}

}  // namespace

uint64_t input_file_size(const std::string& path, const char* kind) {
  Fd f;
  return open_checked(path, kind, f);
}

std::string read_whole_file(const std::string& path, const char* kind) {
  Fd f;
  const uint64_t size = open_checked(path, kind, f);
  std::string bytes;
  bytes.resize(static_cast<size_t>(size));
  const size_t got = read_fully(path, f.fd, bytes.data(), bytes.size());
  if (got != size) AE_FAIL(path, ": read ", got, " of ", size, " bytes (file changed while reading?)");
  return bytes;
}

std::string read_file_prefix(const std::string& path, size_t n, const char* kind) {
  Fd f;
  const uint64_t size = open_checked(path, kind, f);
  std::string bytes;
  bytes.resize(static_cast<size_t>(std::min<uint64_t>(size, n)));
  bytes.resize(read_fully(path, f.fd, bytes.data(), bytes.size()));
  return bytes;
}

void read_file_at(const std::string& path, uint64_t offset, void* dst, size_t n) {
  Fd f;
  open_checked(path, "a data file", f);
  const size_t got = read_fully(path, f.fd, static_cast<char*>(dst), n, offset);
  if (got != n) AE_FAIL(path, ": read ", got, " of ", n, " bytes at offset ", offset, " (file changed while reading?)");
}

}  // namespace ae
