// `ae encode`, `ae decode`, `ae reconstruct`: a trained model applied to a data file. Inputs are
// normalised as in training; decoded and reconstructed outputs are returned to the data's units.
// `reconstruct --reference CLEAN` also measures how close input and reconstruction are to a clean
// copy of the input: a denoising model's result (`ae corrupt` makes the noisy copy).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>

#include "host/cli/cli.h"
#include "host/data/png.h"
#include "host/progress.h"
#include "kernels/common/error.h"
#include "runtime/infer.h"
#include "runtime/model.h"

namespace ae::cli {

namespace {

struct InferArgs {
  std::string model, data, out, device = "cpu", precision = "fp32";
  std::string reference;  // reconstruct: the clean copy of --data
  int64_t batch = 1024, max_rows = -1;
  int threads = 0;
  bool quiet = false;
  bool with_logvar = false, sample = false;  // encode of a VAE: μ ‖ log σ², or a draw of z, instead of μ
  std::string grid;                          // reconstruct: originals beside reconstructions as a PNG
  int64_t grid_n = 32;
  DataArgs data_args;
};

std::vector<std::string> feature_names(const Model& m) {
  std::vector<std::string> names;
  if (m.data.contains("columns") && m.data["columns"].is_array() && int64_t(m.data["columns"].size()) == m.spec.input)
    names = m.data["columns"].get<std::vector<std::string>>();
  return names;
}

// A clean reference for --data, row for row, and the PSNR peak: 1 when every value lies in [0, 1]
// (images as ae reads them), else the reference's max − min.
struct Reference {
  Matrix x;
  bool unit = true;  // every value in [0, 1]
  double peak = 1;
};

Reference load_reference(const InferArgs& a, const Matrix& data) {
  Reference r{load_data(a.reference, a.max_rows, "--reference", a.data_args).x};
  if (r.x.rows != data.rows || r.x.cols != data.cols)
    AE_FAIL("--reference ", a.reference, " is ", r.x.rows, " rows × ", r.x.cols, " but --data ", a.data, " is ", data.rows, " rows × ",
            data.cols, "; give the clean copy of --data, row for row");
  const PsnrPeak p = psnr_peak(r.x.data.data(), r.x.data.size());
  r.unit = p.unit, r.peak = p.peak;
  return r;
}

// Mean squared error per element of y against the reference, and its PSNR (common.cpp).
void print_fidelity(const char* what, const float* y, const Reference& ref) {
  std::printf("%-15s %s\n", what, fidelity_text(mse_per_element(y, ref.x.data.data(), ref.x.data.size()), ref.peak).c_str());
}

// The first n rows of `input` each beside its reconstruction, 8 pairs to a grid row.
void write_pairs_grid(const std::string& path, const std::vector<float>& input, const std::vector<float>& output, int64_t n,
                      int64_t width, std::pair<int64_t, int64_t> shape) {
  std::vector<float> pairs;
  pairs.reserve(size_t(2 * n * width));
  for (int64_t r = 0; r < n; ++r)
    for (const std::vector<float>* m : {&input, &output}) pairs.insert(pairs.end(), m->begin() + r * width, m->begin() + (r + 1) * width);
  ImageGridOptions g = image_grid_options(pairs.data(), 2 * n, shape);
  g.cols = std::min<int64_t>(16, 2 * n);
  write_image_grid_png(path, pairs.data(), 2 * n, width, g);
}

void run(GraphMode mode, const InferArgs& a, const char* in_flag) {  // mode: encode, decode or reconstruct
  apply_threads(a.threads);
  if (a.batch < 1) AE_FAIL("--batch must be ≥ 1, got ", a.batch);
  check_output_path(a.out, "--out", {".npy", ".csv", ".tsv"});
  check_distinct({{"--out", a.out}, {"--model", a.model}, {in_flag, a.data}});
  check_distinct({{"--out", a.out}, {"--reference", a.reference}});  // the reference may be --data itself
  check_row_limit(a.max_rows, "--max-rows");
  if (is_grid_shape(a.data_args.image_shape) && a.grid.empty())
    AE_FAIL("--image-shape ", a.data_args.image_shape, " (HxW: how images are drawn) is only used with --grid; the data's "
            "shape is CxHxW");
  if (!a.grid.empty()) {
    check_output_path(a.grid, "--grid", {".png"});
    check_distinct({{"--grid", a.grid}, {"--out", a.out}, {"--model", a.model}, {in_flag, a.data}});
    if (a.grid_n < 1) AE_FAIL("--grid-n must be ≥ 1, got ", a.grid_n);
  }
  if (a.with_logvar && a.sample) AE_FAIL("--with-logvar and --sample contradict each other: give one");
  Model model = Model::load(a.model);
  model.precision = parse_precision(a.precision);
  if ((a.with_logvar || a.sample) && !model.spec.variational())
    AE_FAIL(a.with_logvar ? "--with-logvar" : "--sample", " needs a VAE, but ", a.model, " (", model.spec.to_compact(),
            ") has no variational code layer");
  if (a.with_logvar) mode = GraphMode::encode_logvar;
  if (a.sample) mode = GraphMode::encode_sample;
  auto backend = make_backend(a.device);
  check_precision(*backend, model.precision);
  Dataset in = load_data(a.data, a.max_rows, in_flag, a.data_args);
  if (mode != GraphMode::decode)
    check_image_shape(in.x, model.spec.input_shape, std::string(in_flag) + " " + a.data, "the input of " + a.model);
  int64_t want = mode == GraphMode::decode ? model.spec.code_units() : model.spec.input;
  if (in.x.cols != want)
    AE_FAIL(in_flag, " ", a.data, ": rows have ", in.x.cols, " values but the model's ", mode == GraphMode::decode ? "code" : "input",
            " has ", want, " (", a.model, ": ", model.spec.to_compact(), ")");
  std::unique_ptr<Reference> ref;  // read before the work, so a mismatch fails before any output
  if (!a.reference.empty()) ref = std::make_unique<Reference>(load_reference(a, in.x));
  std::pair<int64_t, int64_t> shape{0, 0};
  if (!a.grid.empty()) {  // the grid's shape and layout before any work or output
    shape = grid_shape(a.data_args, in.x);
    const int64_t n = std::min(a.grid_n, in.x.rows);
    ImageGridOptions g;
    g.height = shape.first, g.width = shape.second, g.cols = std::min<int64_t>(16, 2 * n);
    g.zoom = shape.first * shape.second <= 32 * 32 ? 2 : 1;
    try {
      check_image_grid(a.grid, 2 * n, model.spec.input, g);
    } catch (const Error& e) {
      AE_FAIL("--grid with --grid-n ", a.grid_n, ": ", e.what());
    }
  }
  const std::vector<float> raw = ref || !a.grid.empty() ? in.x.data : std::vector<float>();  // the input in data units
  if (mode != GraphMode::decode) model.norm.apply(in.x.data.data(), in.x.rows, in.x.cols);
  Progress bar(graph_mode_name(mode), in.x.rows, !a.quiet);
  std::vector<float> out = run_forward(model, *backend, mode, in.x.data.data(), in.x.rows, a.batch,
                                       [&](int64_t done) { bar.update(done, ""); });
  bar.finish();
  const int64_t out_w = mode_output_width(model.spec, mode), units = model.spec.code_units();
  std::vector<std::string> header;
  if (is_encode(mode)) {  // a VAE's columns say what they hold: μ, log σ² or a draw of z
    const bool vae = model.spec.variational();
    for (int64_t i = 0; i < out_w; ++i)
      header.push_back((mode == GraphMode::encode_sample ? "z" : i >= units ? "logvar" : vae ? "mu" : "code") +
                       std::to_string(i % units));
  } else {
    model.norm.invert(out.data(), in.x.rows, out_w);
    header = feature_names(model);
  }
  save_matrix(a.out, out.data(), in.x.rows, out_w, header);
  if (!a.grid.empty()) write_pairs_grid(a.grid, raw, out, std::min(a.grid_n, in.x.rows), model.spec.input, shape);
  if (!a.quiet)
    std::fprintf(stderr, "ae: %s: %lld rows → %s [%lld × %lld]\n", graph_mode_name(mode), (long long)in.x.rows, a.out.c_str(),
                 (long long)in.x.rows, (long long)out_w);
  if (ref) {
    std::printf("against --reference %s (%lld rows × %lld; PSNR peak %g%s):\n", a.reference.c_str(), (long long)ref->x.rows,
                (long long)ref->x.cols, ref->peak, ref->unit ? ", values in [0, 1]" : ", the reference's max − min");
    print_fidelity("input", raw.data(), *ref);
    print_fidelity("reconstruction", out.data(), *ref);
  }
}

void add(CLI::App& app, GraphMode mode, const char* help, const char* in_flag, const char* in_help) {
  auto a = std::make_shared<InferArgs>();
  auto* s = app.add_subcommand(graph_mode_name(mode), help);
  s->add_option("--model", a->model, "Model file (safetensors)")->required();
  s->add_option(in_flag, a->data, in_help)->required();
  s->add_option("--out", a->out, "Output file: .npy, .csv or .tsv")->required();
  // decode's --codes are codes, not images; reconstruct's --image-shape also takes the grid's HxW.
  add_data_options(*s, a->data_args,
                   mode == GraphMode::decode        ? ImageShapeFlag::none
                   : mode == GraphMode::reconstruct ? ImageShapeFlag::data_or_grid
                                                    : ImageShapeFlag::data);
  s->add_option("--max-rows", a->max_rows, "Only the first N rows");
  add_run_options(*s, a->batch, a->threads, a->device, a->quiet);
  add_precision_option(*s, a->precision);
  if (mode == GraphMode::encode) {
    s->add_flag("--with-logvar", a->with_logvar, "VAE: write μ and then log σ² (2 × code columns) instead of μ alone");
    s->add_flag("--sample", a->sample,
                "VAE: write a draw z = μ + σ·ε instead of μ (ε from the model's seed, per data row: reproducible)");
  }
  if (mode == GraphMode::reconstruct) {
    s->add_option("--grid", a->grid, "Also draw the first --grid-n rows, each beside its reconstruction, as a PNG image grid");
    s->add_option("--grid-n", a->grid_n, "Rows drawn in --grid")->capture_default_str();
  }
  if (mode == GraphMode::reconstruct)
    s->add_option("--reference", a->reference,
                  "The clean copy of --data (same rows): print the MSE per element and the PSNR (10·log10(peak²/MSE); peak 1 "
                  "for data in [0, 1], else the reference's max − min) of the input and of the reconstruction against it");
  std::string flag = in_flag;
  s->callback([a, mode, flag] { run(mode, *a, flag.c_str()); });
}

}  // namespace

void add_infer(CLI::App& app) {
  add(app, GraphMode::encode, "Latent codes of each row (the encoder's output; a VAE's mean μ)", "--data", "Data: IDX, NPY or CSV");
  add(app, GraphMode::decode, "Rows reconstructed from latent codes (the decoder's output)", "--codes", "Codes: NPY or CSV");
  add(app, GraphMode::reconstruct, "Each row passed through the autoencoder", "--data", "Data: IDX, NPY or CSV");
}

}  // namespace ae::cli
