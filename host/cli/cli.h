// The `ae` command: shared pieces of its subcommands (each in its own file).
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "graph/spec.h"
#include "kernels/common/dtype.h"
#include "host/metrics.h"
#include "host/data/dataset.h"

namespace ae {
class Backend;
class CompiledModel;
struct Model;
}  // namespace ae

namespace ae::cli {

inline const std::string DEFAULT_SPEC = "784-256r-32-256r-784s";
inline const std::string FASHION_DIR = "/usr/share/datasets/fashion-mnist/";
inline const std::string DEFAULT_TRAIN = FASHION_DIR + "train-images-idx3-ubyte.gz";
inline const std::string DEFAULT_TEST = FASHION_DIR + "t10k-images-idx3-ubyte.gz";

// Sets OpenMP and GEMM threads; 0 means all cores.
int apply_threads(int threads);

// Option checks: a finite number (options whose NaN default means "not given" must not accept
// "nan" or "inf"), and an integer ≥ 0 (an unsigned option would take "-1" as 2^64 − 1).
CLI::Validator finite_number();
CLI::Validator non_negative_integer();

// How data files are read; the same flags on every command that reads data.
struct DataArgs {
  std::string header = "detect";        // detect, yes, no
  std::string label_column;             // kept apart from the features (name or 0-based index)
  std::vector<std::string> columns;     // feature columns to keep
  std::string image_shape;              // --image-shape CxHxW (or, where a grid is drawn, HxW: the grid's alone)
};
// Which --image-shape a command takes: none (its files are not a model's input: decode's codes,
// corrupt), the data's CxHxW, or also the HxW that reconstruct and report have always taken for
// the images they draw (a grid shape only, not the data's).
enum class ImageShapeFlag { none, data, data_or_grid };
void add_data_options(CLI::App& cmd, DataArgs& args, ImageShapeFlag image_shape = ImageShapeFlag::data);
// Whether --image-shape's text is the grid-only HxW form (one separator) rather than CxHxW.
bool is_grid_shape(std::string_view text);
// The {height, width} to draw rows of x as: --image-shape HxW when given (checked against the
// width), else x's image shape with its channels one above another ((C·H) × W), else a square.
// Throws one line naming --image-shape when none fits.
std::pair<int64_t, int64_t> grid_shape(const DataArgs& args, const Matrix& x);

struct Dataset {
  Matrix x;                          // [rows, features]
  std::vector<std::string> labels;   // text labels when --label-column is given
};
// Reads IDX (plain or gzip), NPY or CSV; `flag` names the option in messages.
Dataset load_data(const std::string& path, int64_t max_rows, const std::string& flag, const DataArgs& args = {});
// Splits rows into train and a held-out fraction `frac`, chosen by a seeded permutation.
void split_rows(const Matrix& all, double frac, uint64_t seed, Matrix& train, Matrix& val);
// Fails early, before long work, when `path`'s directory does not exist, it is a directory, or
// its extension is not one of `extensions` (e.g. {".npy", ".csv"}; empty: any). Removes
// temporaries a killed earlier run left beside it.
void check_output_path(const std::string& path, const std::string& flag, const std::vector<std::string>& extensions = {});
// Refuses two flags naming the same file (an output would overwrite an input or another output).
void check_distinct(const std::vector<std::pair<std::string, std::string>>& flag_paths);
// --spec (or DEFAULT_SPEC when empty) with --tied, --sparsity and --noise (when not empty) applied,
// validated. A spec that has its own sparsity or noise beside the flag is refused: give one.
Spec spec_from_args(const std::string& spec, bool tied, const std::string& sparsity = "", const std::string& noise = "",
                    const std::string& contractive = "", const std::string& beta = "", const std::string& kl_warmup = "",
                    const std::string& adversarial = "", const std::string& prior = "");
// --adversarial and --prior on train, plan and bench (an adversarial autoencoder's discriminator
// and the prior it holds the codes to), parsed as the command line is read.
inline void add_adversarial_options(CLI::App& cmd, std::string& adversarial, std::string& prior) {
  cmd.add_option("--adversarial", adversarial,
                 "Adversarial autoencoder: a discriminator on the code, DSPEC = the code width then dense layers ending in "
                 "one linear logit, e.g. 32-64r-64r-1; training alternates reconstruction, discriminator and generator phases")
      ->each([](const std::string& v) { parse_discriminator(v, "--adversarial"); });
  cmd.add_option("--prior", prior, "Adversarial autoencoder: the codes' prior, gaussian (N(0, 1) per unit) or uniform "
                                   "(U(-1, 1) per unit) [default: gaussian]")
      ->each([](const std::string& v) { parse_prior(v, "--prior"); });
}
// --beta and --kl-warmup on train, plan and bench (a VAE's KL weight and its warm-up), parsed as the
// command line is read.
inline void add_vae_options(CLI::App& cmd, std::string& beta, std::string& kl_warmup) {
  cmd.add_option("--beta", beta, "VAE: the KL term's weight β (≥ 0) [default: 1, the ELBO]")
      ->each([](const std::string& v) { parse_beta(v, "--beta"); });
  cmd.add_option("--kl-warmup", kl_warmup, "VAE: ramp β linearly from 0 over N steps [default: 0, none]")
      ->each([](const std::string& v) { parse_kl_warmup(v, "--kl-warmup"); });
}
// The help text of --noise, shared by train, plan and bench.
inline const char* NOISE_HELP =
    "Denoising: corrupt the training inputs each step, reconstruct the clean ones: mask:P (zero with probability P), "
    "gaussian:S[:clip] (add S·N(0,1), clip to the data range), saltpepper:P (the data's min or max with probability P), "
    "each optionally :LO:HI (the range; default: the training data's); none removes one (--init)";
// --contractive on train, plan and bench. The value is parsed as the command line is read, so an
// empty one (--contractive '') is refused like any other bad weight rather than read as no flag.
inline CLI::Option* add_contractive_option(CLI::App& cmd, std::string& value) {
  return cmd
      .add_option("--contractive", value,
                  "Contractive penalty: LAMBDA·(1/B)·Σ_b ‖∂code/∂x‖²_F, the squared Frobenius norm of the encoder's "
                  "Jacobian, exact for any depth; 0 removes it (--init)")
      ->each([](const std::string& v) { parse_contractive(v, "--contractive"); });
}
// --max-rows style limits: -1 (all) or ≥ 1.
void check_row_limit(int64_t rows, const std::string& flag);

// --batch, --threads, --device and --quiet: how a command that runs a model runs it.
void add_run_options(CLI::App& cmd, int64_t& batch, int& threads, std::string& device, bool& quiet);

// --precision fp32|bf16|fp16|tf32 (mixed precision, graph/precision.cpp): the dtype the command's
// plans compute in (tf32: fp32 tensors, tf32 tensor-core GEMMs).
void add_precision_option(CLI::App& cmd, std::string& precision);
Precision parse_precision(const std::string& value);
// Fails with the backend's one-line reason when it cannot run `precision`: before any work.
void check_precision(const Backend& backend, Precision precision);

// Data for a model (host/cli/common.cpp). load_model_data reads `flag` `path` and checks its
// image shape (check_image_shape, for a convolutional model) and width against the model's input
// (`model_path` names the model in the message), in the data's units; load_model_rows also
// normalises the rows as the model was trained.
Dataset load_model_data(const Model& model, const std::string& model_path, const std::string& path, const std::string& flag,
                        int64_t max_rows, const DataArgs& data_args);
Matrix load_model_rows(const Model& model, const std::string& model_path, const std::string& path, const std::string& flag,
                       int64_t max_rows, const DataArgs& data_args);
// The codes (a VAE's means μ) of normalised rows x, [x.rows, code units], with a progress bar
// "encode WHAT" unless quiet.
std::vector<float> encode_rows(CompiledModel& compiled, const Matrix& x, int64_t batch, const std::string& what, bool quiet);
// One integer class label per row of `data_flag` `data_path` (`rows` rows) from `flag` `path`;
// every failure (a text label, a count that differs) names both flags.
std::vector<int32_t> load_row_labels(const std::string& path, const std::string& flag, int64_t max_rows, int64_t rows,
                                     const std::string& data_flag, const std::string& data_path);
double seconds_since(std::chrono::steady_clock::time_point t0);

// Reconstruction fidelity, the same on every command: the mean squared error per element of y
// against x ([n] each, the data's units), and PSNR = 10·log10(peak² / MSE) with the peak 1 when
// every value of x lies in [0, 1] (images as ae reads them), else x's max − min.
struct PsnrPeak {
  double peak = 1;
  bool unit = true;  // every value in [0, 1]
};
PsnrPeak psnr_peak(const float* x, size_t n);
double mse_per_element(const float* y, const float* x, size_t n);
// "MSE 0.012300  PSNR 19.10 dB" ("PSNR -" when the peak is 0: a constant x).
std::string fidelity_text(double mse, double peak);

void add_train(CLI::App& app);
void add_plan(CLI::App& app);
void add_bench(CLI::App& app);
void add_info(CLI::App& app);
void add_infer(CLI::App& app);   // encode, decode, reconstruct
void add_score(CLI::App& app);
void add_corrupt(CLI::App& app);
void add_sample(CLI::App& app);   // draws from a VAE's prior, decoded
void add_knn(CLI::App& app);      // k-nearest-neighbour classification on codes
void add_cluster(CLI::App& app);  // k-means on codes
void add_hash(CLI::App& app);     // hash, retrieve: semantic hashing
void add_compress(CLI::App& app); // compress, decompress: codes as compressed data
void add_report(CLI::App& app);   // an HTML page of figures about a model on a data set

}  // namespace ae::cli
