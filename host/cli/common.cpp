// Plumbing shared by the commands that run a model over a data file (knn, cluster, hash, retrieve,
// compress, report, reconstruct): reading rows for a model, encoding them, reading one label per
// row, and measuring a reconstruction, each written once so that every command says the same.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "host/cli/cli.h"
#include "host/data/png.h"
#include "host/progress.h"
#include "kernels/common/error.h"
#include "runtime/backend.h"
#include "runtime/compiled_model.h"
#include "runtime/infer.h"
#include "runtime/model.h"

namespace ae::cli {

void add_run_options(CLI::App& cmd, int64_t& batch, int& threads, std::string& device, bool& quiet) {
  cmd.add_option("--batch", batch, "Rows per batch")->capture_default_str();
  cmd.add_option("--threads", threads, "CPU threads (0 = all cores)")->capture_default_str();
  cmd.add_option("--device", device, "cpu, cuda, cuda-sim (CUDA kernels run on the CPU) or auto")->capture_default_str();
  cmd.add_flag("--quiet", quiet, "No progress output");
}

void add_precision_option(CLI::App& cmd, std::string& precision) {
  cmd.add_option("--precision", precision,
                 "fp32; bf16 (bf16 storage and GEMMs with fp32 accumulation, fp32 master weights; cpu with "
                 "AVX512_BF16, cuda); fp16 (likewise, with dynamic loss scaling; cuda); tf32 (fp32 storage, tf32 "
                 "tensor-core GEMMs; cuda)")
      ->capture_default_str();
}

Precision parse_precision(const std::string& value) { return ae::parse_precision(value, "--precision"); }

void check_precision(const Backend& backend, Precision precision) {
  if (const std::string why = backend.precision_support(precision); !why.empty())
    AE_FAIL("--precision ", precision_name(precision), ": ", why);
}

Dataset load_model_data(const Model& model, const std::string& model_path, const std::string& path, const std::string& flag,
                        int64_t max_rows, const DataArgs& data_args) {
  Dataset d = load_data(path, max_rows, flag, data_args);
  check_image_shape(d.x, model.spec.input_shape, flag + " " + path, "the input of " + model_path);
  if (d.x.cols != model.spec.input)
    AE_FAIL(flag, " ", path, ": rows have ", d.x.cols, " features but the model's input is ", model.spec.input, " (", model_path, ")");
  return d;
}

Matrix load_model_rows(const Model& model, const std::string& model_path, const std::string& path, const std::string& flag,
                       int64_t max_rows, const DataArgs& data_args) {
  Matrix x = std::move(load_model_data(model, model_path, path, flag, max_rows, data_args).x);
  model.norm.apply(x.data.data(), x.rows, x.cols);
  return x;
}

std::pair<int64_t, int64_t> grid_shape(const DataArgs& args, const Matrix& x) {
  if (is_grid_shape(args.image_shape)) return image_shape_for(x.cols, args.image_shape, "--image-shape");
  if (x.image_shape.size() == 3) return {x.image_shape[0] * x.image_shape[1], x.image_shape[2]};
  return image_shape_for(x.cols, "", "--image-shape");
}

std::vector<float> encode_rows(CompiledModel& compiled, const Matrix& x, int64_t batch, const std::string& what, bool quiet) {
  const int64_t w = compiled.model().spec.code_units();
  std::vector<float> codes(size_t(x.rows * w));
  Progress bar("encode " + what, x.rows, !quiet);
  run_forward(compiled, GraphMode::encode, x.data.data(), x.rows, codes.data(), batch, [&](int64_t done) { bar.update(done, ""); });
  bar.finish();
  return codes;
}

std::vector<int32_t> load_row_labels(const std::string& path, const std::string& flag, int64_t max_rows, int64_t rows,
                                     const std::string& data_flag, const std::string& data_path) {
  std::vector<int32_t> labels;
  try {
    labels = load_labels(path, "", max_rows);
  } catch (const Error& e) {
    // The reader's messages start at the path and, for a text label, speak of `ae score`'s 0/1
    // anomaly labels; here the labels are classes, and the flag is what the user typed.
    std::string msg = e.what();
    static const std::string score_hint = " (expected 0/1, 1 = anomaly, or a class number)";
    if (const size_t at = msg.find(score_hint); at != std::string::npos)
      msg.replace(at, score_hint.size(), "; " + flag + " expects one integer class label per row (e.g. 0, 1, 2)");
    AE_FAIL(flag, " ", msg);
  }
  if (int64_t(labels.size()) != rows)
    AE_FAIL(flag, " ", path, ": ", labels.size(), " labels for the ", rows, " rows of ", data_flag, " ", data_path);
  return labels;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

PsnrPeak psnr_peak(const float* x, size_t n) {
  if (n == 0) return {};
  const auto [lo, hi] = std::minmax_element(x, x + n);
  PsnrPeak p;
  p.unit = *lo >= 0.f && *hi <= 1.f;
  p.peak = p.unit ? 1.0 : double(*hi) - double(*lo);
  return p;
}

double mse_per_element(const float* y, const float* x, size_t n) {
  double sum = 0;
  for (size_t i = 0; i < n; ++i) {
    const double d = double(y[i]) - double(x[i]);
    sum += d * d;
  }
  return sum / double(std::max<size_t>(1, n));
}

std::string fidelity_text(double mse, double peak) {
  char buf[96];
  if (peak > 0) std::snprintf(buf, sizeof buf, "MSE %.6f  PSNR %.2f dB", mse, 10.0 * std::log10(peak * peak / mse));
  else std::snprintf(buf, sizeof buf, "MSE %.6f  PSNR -", mse);
  return buf;
}

}  // namespace ae::cli
