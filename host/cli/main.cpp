// `ae`: train, inspect and benchmark autoencoders. Every error is one line on stderr and a
// non-zero exit; nothing half-written is left behind (writers are atomic).
#include <omp.h>

#include <filesystem>
#include <iostream>
#include <thread>

#include "host/cli/cli.h"
#include "kernels/common/error.h"
#include "kernels/cpu/gemm.h"

namespace ae::cli {

int apply_threads(int threads) {
  if (threads < 0) AE_FAIL("--threads must be ≥ 0 (0 = all cores), got ", threads);
  if (threads == 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
  omp_set_num_threads(threads);
  cpu::set_gemm_threads(threads);
  return threads;
}

Matrix load_data(const std::string& path, int64_t max_rows, const std::string& flag) {
  if (path.empty()) AE_FAIL(flag, ": no file given");
  if (!std::filesystem::exists(path)) AE_FAIL(flag, " ", path, ": no such file");
  return read_idx_matrix(path, max_rows);
}

void check_output_path(const std::string& path, const std::string& flag) {
  if (path.empty()) AE_FAIL(flag, ": empty path");
  auto dir = std::filesystem::path(path).parent_path();
  if (!dir.empty() && !std::filesystem::is_directory(dir))
    AE_FAIL(flag, " ", path, ": directory ", dir.string(), " does not exist");
  if (std::filesystem::is_directory(path)) AE_FAIL(flag, " ", path, ": is a directory; give a file name");
}

}  // namespace ae::cli

int main(int argc, char** argv) {
  CLI::App app{"ae — train and use autoencoders (C++20/CUDA engine; cpu reference backend)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "ae 0.1.0");
  ae::cli::add_train(app);
  ae::cli::add_plan(app);
  ae::cli::add_bench(app);
  ae::cli::add_info(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const ae::Error& e) {
    std::cerr << "ae: error: " << e.what() << "\n";
    return 1;
  } catch (const std::bad_alloc&) {
    std::cerr << "ae: error: out of memory\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "ae: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
