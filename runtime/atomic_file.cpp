// AtomicFile: temporary file + fsync + rename, so outputs appear complete or not at all.
#include "runtime/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <signal.h>

#include <cerrno>
#include <atomic>
#include <filesystem>
#include <cstring>

#include "kernels/common/error.h"

namespace ae {

namespace {

constexpr size_t k_buffer_bytes = size_t{1} << 20;  // 1 MiB: CSV writers emit many tiny pieces

std::string parent_directory(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

AtomicFile::AtomicFile(std::string path, uint64_t expected_bytes) : m_path(std::move(path)), m_expected(expected_bytes) {
  if (m_path.empty()) AE_FAIL("cannot write a file with an empty path");
  if (m_path.back() == '/') AE_FAIL("cannot write '", m_path, "': the path names a directory");
  // The rename at commit replaces whatever the path names: only ever a regular file (a model
  // saved to /dev/null by root would otherwise replace the device with a file).
  struct stat st{};
  if (::stat(m_path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    AE_FAIL("cannot write '", m_path, "': it exists and is not a regular file (", S_ISDIR(st.st_mode) ? "a directory" : "a device, pipe or socket",
            "); ae writes a new file and renames it into place, which would replace it");
  // <path>.tmp.<pid>.<n>: unique per writer, so two outputs of one process never share a temporary.
  static std::atomic<unsigned> counter{0};
  m_temp_path = m_path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  m_fd = ::open(m_temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (m_fd < 0) {
    const int err = errno;
    AE_FAIL("cannot write '", m_path, "': creating the temporary file '", m_temp_path,
            "' failed: ", std::strerror(err), " (does the directory exist and is it writable?)");
  }
  m_buffer.reserve(k_buffer_bytes);
}

AtomicFile::~AtomicFile() {
  if (m_fd >= 0) ::close(m_fd);
  if (!m_committed) ::unlink(m_temp_path.c_str());
}

// One line: the OS reason first (what a user searches for), then how far the file got.
void AtomicFile::fail_io(const char* what) const {
  const int err = errno;
  std::string progress = std::strcmp(what, "write") == 0 ? " after writing " : std::string(" at ") + what + ", after writing ";
  progress += std::to_string(m_written);
  if (m_expected > 0) progress += " of " + std::to_string(m_expected);
  progress += " bytes";
  const char* hint = err == EFBIG    ? " (a file-size limit is set: ulimit -f)"
                     : err == ENOSPC ? " (the disk is full)"
                     : err == EDQUOT ? " (the disk quota is used up)"
                                     : "";
  AE_FAIL("cannot write '", m_path, "': ", std::strerror(err), progress, hint,
          "; any existing file there is left as it was");
}

void AtomicFile::write_all(const char* p, size_t bytes) {
  while (bytes > 0) {
    const ssize_t n = ::write(m_fd, p, bytes);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = ENOSPC;  // a regular file accepts nothing only when it cannot grow
      fail_io("write");
    }
    p += n;
    bytes -= static_cast<size_t>(n);
    m_written += static_cast<uint64_t>(n);
  }
}

void AtomicFile::flush_buffer() {
  write_all(m_buffer.data(), m_buffer.size());
  m_buffer.clear();
}

void AtomicFile::write(const void* data, size_t bytes) {
  if (m_fd < 0) AE_FAIL("cannot write '", m_path, "': the file was already committed");
  const char* p = static_cast<const char*>(data);
  if (m_buffer.size() + bytes <= k_buffer_bytes) {
    m_buffer.insert(m_buffer.end(), p, p + bytes);
    return;
  }
  flush_buffer();
  if (bytes < k_buffer_bytes) {
    m_buffer.insert(m_buffer.end(), p, p + bytes);
    return;
  }
  // Large blocks (tensor data) go straight to the kernel without a copy.
  write_all(p, bytes);
}

void AtomicFile::commit() {
  if (m_fd < 0) AE_FAIL("cannot write '", m_path, "': the file was already committed");
  flush_buffer();
  // fsync before rename: otherwise a crash can leave the new name pointing at an empty inode.
  if (::fsync(m_fd) != 0) fail_io("fsync");
  // close() can report a deferred write error (NFS, some FUSE filesystems); the temporary is
  // then incomplete and the destructor removes it.
  const int fd = m_fd;
  m_fd = -1;
  if (::close(fd) != 0 && errno != EINTR) fail_io("close");
  if (::rename(m_temp_path.c_str(), m_path.c_str()) != 0) {
    const int err = errno;
    AE_FAIL("cannot write '", m_path, "': renaming '", m_temp_path, "' over it failed: ",
            std::strerror(err));
  }
  m_committed = true;
  // The rename itself is durable only once the directory entry is on disk. Failing to open or
  // fsync the directory (some filesystems refuse) does not undo a completed rename, so it is
  // not an error: the file is complete either way.
  const int dir = ::open(parent_directory(m_path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

int remove_stale_temporaries(const std::string& path) {
  namespace fs = std::filesystem;
  fs::path target(path);
  fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  std::string prefix = target.filename().string() + ".tmp.";
  int removed = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    std::string pid_text = name.substr(prefix.size());
    pid_text = pid_text.substr(0, pid_text.find('.'));  // <pid>.<n>
    if (pid_text.empty() || pid_text.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t pid = pid_t(std::stol(pid_text));
    bool alive = pid == ::getpid() || ::kill(pid, 0) == 0 || errno == EPERM;
    if (!alive && fs::remove(e.path(), ec)) ++removed;
  }
  return removed;
}

}  // namespace ae
