// What every ae fuzz target shares: the readers take a path, so each input is written to one
// scratch file per process (in /dev/shm when there is one, else $TMPDIR or /tmp; removed at exit)
// and the reader is pointed at it. A disk-backed /tmp costs ~3 ms a write (ext4 flushes a file
// truncated to zero on close), 30 times the parse itself, so the file is rewritten in place.
// ae::Error is a reader's way of refusing bad bytes, the expected outcome; any other exception
// escapes the target and libFuzzer reports it (with a crash, a hang or a sanitizer report).
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "ae/error.hpp"

namespace ae::fuzz {

class ScratchFile {
 public:
  explicit ScratchFile(const char* suffix)
      : m_path((scratch_dir() / ("ae-fuzz-" + std::to_string(::getpid()) + suffix)).string()) {}
  ~ScratchFile() { ::unlink(m_path.c_str()); }

  // Replaces the file's contents with data; aborts (a finding) if /tmp cannot take it.
  const std::string& write(const uint8_t* data, size_t size) {  // data: [size]
    const int fd = ::open(m_path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) std::abort();
    for (size_t done = 0; done < size;) {
      const ssize_t n = ::pwrite(fd, data + done, size - done, off_t(done));
      if (n <= 0) std::abort();
      done += size_t(n);
    }
    if (::ftruncate(fd, off_t(size)) != 0) std::abort();
    ::close(fd);
    return m_path;
  }

 private:
  static std::filesystem::path scratch_dir() {
    std::error_code ec;
    if (std::filesystem::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK) == 0) return "/dev/shm";
    return std::filesystem::temp_directory_path();
  }

  std::string m_path;
};

// Runs f, swallowing only ae::Error.
template <typename F>
void expect_ok_or_error(F&& f) {
  try {
    f();
  } catch (const ae::Error&) {
  }
}

}  // namespace ae::fuzz
