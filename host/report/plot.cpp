// gnuplot as a child process: posix_spawn with a working directory, file actions for the
// standard streams, and waitpid. See plot.h.
#include "host/report/plot.h"

#include <fcntl.h>
#include <png.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "kernels/common/error.h"

extern char** environ;

namespace ae::report {

std::string find_gnuplot() {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  std::stringstream ss(dirs);
  for (std::string d; std::getline(ss, d, ':');) {
    const std::string exe = (d.empty() ? "." : d) + "/gnuplot";
    struct stat st{};
    if (::stat(exe.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(exe.c_str(), X_OK) == 0) return exe;
  }
  AE_FAIL("report: gnuplot not found on PATH; install gnuplot-nox (cmake/install-deps.sh does)");
}

std::string gnuplot_quote(std::string_view text) {
  std::string q = "'";
  for (char c : text) {
    if (c == '\'') q += "''";
    else if (c == '\n' || c == '\r') q += ' ';
    else q += c;
  }
  return q + "'";
}

namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// stderr lines that say nothing about the figure: fontconfig complaining that it cannot write
// its cache (a read-only home, a container) draws the same text.
std::string meaningful_errors(const std::string& err) {
  std::stringstream ss(err);
  std::string kept;
  for (std::string line; std::getline(ss, line);) {
    if (line.empty() || line.rfind("Fontconfig", 0) == 0) continue;
    kept += (kept.empty() ? "" : "; ") + line;
  }
  return kept;
}

}  // namespace

void run_gnuplot(const std::string& gnuplot, const std::string& dir, const std::string& script) {
  const std::string err_name = script + ".stderr";
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  // Relative names below resolve in `dir`: the chdir comes first.
  posix_spawn_file_actions_addchdir_np(&fa, dir.c_str());
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, err_name.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::vector<std::string> args = {gnuplot, "-d", script};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, gnuplot.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) AE_FAIL("report: cannot run ", gnuplot, ": ", std::strerror(rc));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) AE_FAIL("report: waiting for gnuplot: ", std::strerror(errno));
  const std::string err = meaningful_errors(read_all(dir + "/" + err_name));
  if (WIFSIGNALED(status)) AE_FAIL("report: gnuplot was killed by signal ", WTERMSIG(status), " drawing ", script);
  if (WEXITSTATUS(status) != 0 || !err.empty())
    AE_FAIL("report: gnuplot failed drawing ", script, " (exit status ", WEXITSTATUS(status), "): ",
            detail::one_line(err.empty() ? std::string("no message") : err.substr(0, 400)));
}

void check_png(const std::string& path, int64_t width, int64_t height) {
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  std::string problem;
  if (!png_image_begin_read_from_file(&image, path.c_str())) {
    problem = image.message;
  } else if (int64_t(image.width) != width || int64_t(image.height) != height) {
    problem = std::to_string(image.width) + "×" + std::to_string(image.height) + " pixels, not " +
              std::to_string(width) + "×" + std::to_string(height);
    png_image_free(&image);
  } else {
    image.format = PNG_FORMAT_GRAY;  // decoding every row is what finds a file cut short
    std::vector<uint8_t> pixels(PNG_IMAGE_SIZE(image));
    if (!png_image_finish_read(&image, nullptr, pixels.data(), 0, nullptr)) problem = image.message;
  }
  if (problem.empty()) return;
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(path, ec);
  AE_FAIL("report: gnuplot wrote a broken ", std::filesystem::path(path).filename().string(), " (", ec ? 0 : bytes,
          " bytes: ", problem, "); is the disk full or a file-size limit set (ulimit -f)?");
}

}  // namespace ae::report
