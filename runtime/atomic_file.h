// AtomicFile: how every ae writer (model files, NPY, CSV) puts a file on disk so that a crash, an
// exception or a full disk never leaves a half-written output looking complete. Bytes go to
// `<path>.tmp.<pid>.<n>` in the target's own directory (so the final rename stays on one filesystem and
// is atomic); commit() flushes, fsyncs, renames over the target and fsyncs the directory. An
// AtomicFile destroyed without commit() removes its temporary and leaves any old target untouched.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace ae {

class AtomicFile {
 public:
  // Creates (truncates) the temporary `<path>.tmp.<pid>.<n>`; throws ae::Error naming the path and the
  // OS reason when it cannot (missing directory, no permission, ...).
  explicit AtomicFile(std::string path);
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
  [[noreturn]] void fail_io(const char* what) const;

  std::string m_path;       // final name
  std::string m_temp_path;  // `<path>.tmp.<pid>.<n>`, same directory
  int m_fd = -1;
  bool m_committed = false;
  std::vector<char> m_buffer;  // pending bytes; capacity fixed at construction
};

// Removes `<path>.tmp.<pid>.<n>` files left by processes that no longer run (a killed writer):
// they are never mistaken for outputs, but would otherwise pile up. Returns how many went.
int remove_stale_temporaries(const std::string& path);

}  // namespace ae
