// AtomicFile: how every ae writer (model files, NPY, CSV) puts a file on disk so that a crash, an
// exception or a full disk never leaves a half-written output looking complete. Bytes go to
// `<path>.tmp.<pid>.<n>` in the target's own directory (so the final rename stays on one filesystem and
// is atomic); commit() flushes, fsyncs, renames over the target and fsyncs the directory. An
// AtomicFile destroyed without commit() removes its temporary and leaves any old target untouched.
// Every write(2), fsync and close is checked: a full disk (ENOSPC) or a file-size limit (EFBIG;
// delayed-allocation filesystems and NFS report them only at fsync or close) is one line,
// "cannot write 'm.safetensors': File too large after writing 12288 of 1677432 bytes (...)". A file-size
// limit kills a process that does not ignore SIGXFSZ before write(2) can fail: the `ae` command
// ignores it; a library user that sets RLIMIT_FSIZE should too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ae {

class AtomicFile {
 public:
  // Creates (truncates) the temporary `<path>.tmp.<pid>.<n>`; throws ae::Error naming the path and the
  // OS reason when it cannot (missing directory, no permission, ...).
  // `expected_bytes` (0: unknown) is only for the error message ("wrote N of M bytes").
  explicit AtomicFile(std::string path, uint64_t expected_bytes = 0);
  // Not committed: closes and unlinks the temporary. Never throws.
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  AtomicFile(AtomicFile&&) = delete;
  AtomicFile& operator=(AtomicFile&&) = delete;

  // Appends bytes (buffered; small writes are cheap). Throws ae::Error on an I/O error (e.g. ENOSPC).
  void write(const void* data, size_t bytes);  // data: [bytes]
  void write(std::string_view text) { write(text.data(), text.size()); }

  // Makes the file visible under its final name: flush, fsync, close, rename, fsync(directory).
  // After a throw the target is either the complete old file or the complete new one, and the
  // destructor still removes the temporary. Calling anything but the destructor afterwards throws.
  void commit();

  const std::string& path() const { return m_path; }
  const std::string& temp_path() const { return m_temp_path; }
  bool committed() const { return m_committed; }

 private:
  void flush_buffer();
  void write_all(const char* p, size_t bytes);  // p: [bytes], straight to the descriptor
  [[noreturn]] void fail_io(const char* what) const;

  std::string m_path;       // final name
  std::string m_temp_path;  // `<path>.tmp.<pid>.<n>`, same directory
  int m_fd = -1;
  bool m_committed = false;
  uint64_t m_written = 0;   // bytes write(2) accepted so far
  uint64_t m_expected = 0;  // the caller's total, 0 when unknown
  std::vector<char> m_buffer;  // pending bytes; capacity fixed at construction
};

// Removes `<path>.tmp.<pid>.<n>` files left by processes that no longer run (a killed writer):
// they are never mistaken for outputs, but would otherwise pile up. Returns how many went.
int remove_stale_temporaries(const std::string& path);

}  // namespace ae
