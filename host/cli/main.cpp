// `ae`: train, inspect and benchmark autoencoders. Every error is one line on stderr and a
// non-zero exit; nothing half-written is left behind (writers are atomic).
#include <omp.h>
#include <signal.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <thread>

#include "graph/spec_options.h"
#include "host/cli/cli.h"
#include "host/data/png.h"
#include "kernels/common/error.h"
#include "kernels/cpu/gemm.h"
#include "runtime/atomic_file.h"
#include "runtime/trainer.h"

namespace ae::cli {

CLI::Validator finite_number() {
  return CLI::Validator(
      [](std::string& v) {
        char* end = nullptr;
        const double x = std::strtod(v.c_str(), &end);
        return end != v.c_str() && *end == '\0' && std::isfinite(x) ? std::string()
                                                                     : "must be a finite number (got " + v + ")";
      },
      "", "finite");
}

CLI::Validator non_negative_integer() {
  return CLI::Validator(
      [](std::string& v) { return v.find('-') == std::string::npos ? std::string() : "must be an integer ≥ 0 (got " + v + ")"; },
      "", "non-negative");
}

int apply_threads(int threads) {
  if (threads < 0 || threads > 1024) AE_FAIL("--threads must be between 0 (all cores) and 1024, got ", threads);
  if (threads == 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
  omp_set_num_threads(threads);
  cpu::set_gemm_threads(threads);
  return threads;
}

void add_data_options(CLI::App& cmd, DataArgs& a, ImageShapeFlag image_shape) {
  cmd.add_option("--header", a.header, "CSV: is the first row a header? detect, yes or no")->capture_default_str();
  cmd.add_option("--label-column", a.label_column, "CSV: a column (name or 0-based index) kept apart from the features");
  cmd.add_option("--columns", a.columns, "CSV: feature columns to use (names or 0-based indices; comma-separated)")->delimiter(',');
  if (image_shape == ImageShapeFlag::none) return;
  const bool grid = image_shape == ImageShapeFlag::data_or_grid;
  // Checked as the command line is read, so a malformed shape fails before any file is opened.
  cmd.add_option("--image-shape", a.image_shape,
                 grid ? "CxHxW: each row is a C×H×W image (CSV, a 2-D NPY; IDX and NPY image stacks carry their own), "
                        "checked against a convolutional model's input and drawn with its channels one above another; "
                        "or HxW: only how the images are drawn [default: the data's shape, else a square]"
                      : "CxHxW: each row is a C×H×W image, read in NCHW order (CSV, a 2-D NPY; IDX and NPY image stacks "
                        "carry their own), checked against a convolutional model's input")
      ->each([grid](const std::string& v) {
        if (v.empty()) AE_FAIL("--image-shape '': expected CxHxW (channels, height, width), e.g. 1x28x28");
        if (grid && is_grid_shape(v)) parse_image_shape(v, "--image-shape");
        else parse_chw_shape(v, "--image-shape");
      });
}

bool is_grid_shape(std::string_view text) {
  int separators = 0;
  for (size_t i = 0; i < text.size(); ++i) separators += text[i] == 'x' || text[i] == 'X' || text.substr(i).starts_with("×");
  return separators == 1;
}

Dataset load_data(const std::string& path, int64_t max_rows, const std::string& flag, const DataArgs& a) {
  if (path.empty()) AE_FAIL(flag, ": no file given");
  std::error_code ec;  // not the throwing overload: a name too long would escape as filesystem_error
  if (!std::filesystem::exists(path, ec)) AE_FAIL(flag, " ", path, ": ", ec ? ec.message() : "no such file");
  LoadOptions lo;
  lo.max_rows = max_rows;
  if (a.header == "yes") lo.csv.header = CsvOptions::Header::yes;
  else if (a.header == "no") lo.csv.header = CsvOptions::Header::no;
  else if (a.header != "detect") AE_FAIL("--header ", a.header, ": expected detect, yes or no");
  lo.csv.label_column = a.label_column;
  lo.csv.columns = a.columns;
  if (!is_grid_shape(a.image_shape)) lo.image_shape = parse_chw_shape(a.image_shape, "--image-shape");
  CsvData d = load_dataset(path, lo);
  return Dataset{std::move(d.features), std::move(d.labels)};
}

void split_rows(const Matrix& all, double frac, uint64_t seed, Matrix& train, Matrix& val) {
  int64_t n_val = int64_t(std::llround(frac * double(all.rows)));
  if (n_val < 1 || n_val >= all.rows)
    AE_FAIL("--val-split ", frac, " of ", all.rows, " rows leaves ", n_val, " validation and ", all.rows - n_val, " training rows; both need at least one");
  // A permutation no epoch uses (epoch numbers never reach 2^40): the split is fixed by the seed.
  std::vector<int64_t> order = epoch_order(all.rows, seed, int64_t(1) << 40, true);
  std::vector<int64_t> val_rows(order.begin(), order.begin() + n_val), train_rows(order.begin() + n_val, order.end());
  std::sort(val_rows.begin(), val_rows.end());
  std::sort(train_rows.begin(), train_rows.end());
  auto take = [&](const std::vector<int64_t>& rows, Matrix& m) {
    m.rows = int64_t(rows.size());
    m.cols = all.cols;
    m.column_names = all.column_names;
    m.image_shape = all.image_shape;
    m.data.resize(size_t(m.rows * m.cols));
    for (size_t i = 0; i < rows.size(); ++i)
      std::copy_n(all.data.begin() + rows[i] * all.cols, all.cols, m.data.begin() + int64_t(i) * all.cols);
  };
  take(train_rows, train);
  take(val_rows, val);
}

void check_output_path(const std::string& path, const std::string& flag, const std::vector<std::string>& extensions) {
  if (path.empty()) AE_FAIL(flag, ": empty path");
  auto dir = std::filesystem::path(path).parent_path();
  std::error_code ec;  // not the throwing overloads: a name too long would escape as filesystem_error
  if (!dir.empty() && !std::filesystem::is_directory(dir, ec))
    AE_FAIL(flag, " ", path, ": directory ", dir.string(), ec ? ": " + ec.message() : std::string(" does not exist"));
  if (std::filesystem::is_directory(path, ec)) AE_FAIL(flag, " ", path, ": is a directory; give a file name");
  if (ec && ec != std::errc::no_such_file_or_directory) AE_FAIL(flag, " ", path, ": ", ec.message());
  if (!extensions.empty()) {
    std::string ext = std::filesystem::path(path).extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    if (std::find(extensions.begin(), extensions.end(), ext) == extensions.end()) {
      std::string list;
      for (const auto& e : extensions) list += (list.empty() ? "" : ", ") + e;
      AE_FAIL(flag, " ", path, ": unsupported extension '", ext, "'; expected one of: ", list);
    }
  }
  remove_stale_temporaries(path);
}

void check_distinct(const std::vector<std::pair<std::string, std::string>>& flag_paths) {
  namespace fs = std::filesystem;
  for (size_t i = 0; i < flag_paths.size(); ++i)
    for (size_t j = i + 1; j < flag_paths.size(); ++j) {
      const auto &a = flag_paths[i], &b = flag_paths[j];
      if (a.second.empty() || b.second.empty()) continue;
      std::error_code ea, eb;
      auto pa = fs::weakly_canonical(a.second, ea), pb = fs::weakly_canonical(b.second, eb);
      if (pa == pb) AE_FAIL(a.first, " and ", b.first, " both name ", a.second, "; give them different files");
    }
}

Spec spec_from_args(const std::string& text, bool tied, const std::string& sparsity, const std::string& noise,
                    const std::string& contractive, const std::string& beta, const std::string& kl_warmup,
                    const std::string& adversarial, const std::string& prior) {
  SpecOptions o;
  o.tied = tied, o.sparsity = sparsity, o.noise = noise, o.contractive = contractive, o.beta = beta;
  o.kl_warmup = kl_warmup, o.adversarial = adversarial, o.prior = prior;
  return apply_spec_options(parse_spec(text.empty() ? DEFAULT_SPEC : text), o);
}

void check_row_limit(int64_t rows, const std::string& flag) {
  if (rows == 0 || rows < -1) AE_FAIL(flag, " must be ≥ 1, got ", rows);
}

// Reports and listings on stdout are output too: a full disk or a file-size limit under
// `ae score ... > report.txt` is an error, not a silently short file (stdio reports it only at
// the final flush).
int finish_stdout(int status) {
  errno = 0;
  if (std::fflush(stdout) == 0 && !std::ferror(stdout)) return status;
  const int err = errno;
  std::fprintf(stderr, "ae: error: cannot write to standard output: %s\n",
               err ? std::strerror(err) : "a write failed");
  return status == 0 ? 1 : status;
}

}  // namespace ae::cli

int main(int argc, char** argv) {
  // A file-size limit (ulimit -f) would otherwise kill the process with SIGXFSZ in the middle
  // of a write, leaving its temporary file behind; ignored, write(2) fails with EFBIG and the
  // writer reports it as one line and removes the temporary.
  ::signal(SIGXFSZ, SIG_IGN);
  CLI::App app{"ae — train and use autoencoders (C++20/CUDA engine; cpu reference backend)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "ae 0.1.0");
  ae::cli::add_train(app);
  ae::cli::add_plan(app);
  ae::cli::add_bench(app);
  ae::cli::add_info(app);
  ae::cli::add_infer(app);
  ae::cli::add_score(app);
  ae::cli::add_corrupt(app);
  ae::cli::add_sample(app);
  ae::cli::add_knn(app);
  ae::cli::add_cluster(app);
  ae::cli::add_hash(app);
  ae::cli::add_compress(app);
  ae::cli::add_report(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return ae::cli::finish_stdout(app.exit(e));  // --help, --version
    std::string names;
    bool known = false;
    for (const auto* sub : app.get_subcommands({})) {
      names += (names.empty() ? "" : ", ") + sub->get_name();
      known = known || (argc > 1 && sub->get_name() == argv[1]);
    }
    if (argc > 1 && argv[1][0] != '-' && !known) {
      std::cerr << "ae: error: unknown command '" << ae::detail::one_line(argv[1]) << "'; expected one of: " << names << "\n";
      return 2;
    }
    std::cerr << "ae: error: " << ae::detail::one_line(e.what()) << " (see ae --help)\n";
    return 2;
  } catch (const ae::Error& e) {
    std::cerr << "ae: error: " << e.what() << "\n";
    return 1;
  } catch (const std::bad_alloc&) {
    std::cerr << "ae: error: out of memory\n";
    return 1;
  } catch (const std::exception& e) {  // not ae's: its text may hold anything, shown as one line all the same
    std::cerr << "ae: error: " << ae::detail::one_line(e.what()) << "\n";
    return 1;
  }
  return ae::cli::finish_stdout(0);
}
