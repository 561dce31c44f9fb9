// `ae sample`: new rows from a generative model. Codes are drawn from its prior, N(0, I) for a VAE,
// an adversarial autoencoder's gaussian or uniform prior (kernels/common/prior.h), with ae's Philox
// (seed, step 0, purpose prior, index row·code + unit) — the same draws on every backend and thread
// count — and decoded; optionally drawn as an image grid (PNG, through libpng).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <numeric>

#include "host/cli/cli.h"
#include "host/data/png.h"
#include "host/progress.h"
#include "kernels/common/error.h"
#include "kernels/common/prior.h"
#include "runtime/infer.h"
#include "runtime/model.h"

namespace ae::cli {

namespace {

// At most this many floats per sample run (codes or rows): 2^32 = 16 GiB.
constexpr int64_t MAX_SAMPLE_VALUES = int64_t(1) << 32;

struct SampleArgs {
  std::string model, out, grid, image_shape, device = "cpu";
  int64_t n = 64, batch = 1024, grid_cols = 0;
  uint64_t seed = 1;
  int threads = 0;
  bool quiet = false;
};

void run_sample(const SampleArgs& a) {
  apply_threads(a.threads);
  if (a.n < 1) AE_FAIL("--n must be ≥ 1, got ", a.n);
  if (a.batch < 1) AE_FAIL("--batch must be ≥ 1, got ", a.batch);
  if (a.grid_cols < 0) AE_FAIL("--grid-cols must be ≥ 0, got ", a.grid_cols);
  if (!a.image_shape.empty() && a.grid.empty()) AE_FAIL("--image-shape is only used with --grid");
  if (a.out.empty() && a.grid.empty()) AE_FAIL("give --out X.npy|.csv and/or --grid FILE.png: nothing would be written");
  if (!a.out.empty()) check_output_path(a.out, "--out", {".npy", ".csv", ".tsv"});
  if (!a.grid.empty()) check_output_path(a.grid, "--grid", {".png"});
  check_distinct({{"--out", a.out}, {"--grid", a.grid}, {"--model", a.model}});
  Model model = Model::load(a.model);
  if (!model.spec.variational() && !model.spec.adversarial.enabled())
    AE_FAIL("ae sample: ", a.model, " (", model.spec.to_compact(), ") is not generative: it has no prior to draw codes from; ",
            "train a variational autoencoder (a code layer marked v, e.g. 784-400r-20v-400r-784s) or an adversarial one ",
            "(--adversarial DSPEC)");
  // What would fail later is checked before any work: the size, the grid's shape and layout.
  const int64_t units = model.spec.code_units(), widest = std::max(units, model.spec.input);
  if (a.n > MAX_SAMPLE_VALUES / widest)
    AE_FAIL("--n ", a.n, ": ", a.n, " rows of ", widest, " values are more than ae samples at once (", MAX_SAMPLE_VALUES,
            " values); draw fewer, e.g. in several runs with other --seed values");
  std::pair<int64_t, int64_t> shape{0, 0};
  if (!a.grid.empty()) {
    shape = image_shape_for(model.spec.input, a.image_shape, "--image-shape");
    ImageGridOptions g;
    g.height = shape.first, g.width = shape.second, g.cols = a.grid_cols, g.zoom = shape.first * shape.second <= 32 * 32 ? 2 : 1;
    try {
      check_image_grid(a.grid, a.n, model.spec.input, g);
    } catch (const Error& e) {
      AE_FAIL("--grid with --n ", a.n, ": ", e.what());
    }
  }
  std::vector<float> z(size_t(a.n * units));
  const PriorKind prior = model.spec.adversarial.enabled() ? model.spec.adversarial.prior : PriorKind::gaussian;
  for (int64_t i = 0; i < a.n * units; ++i) z[size_t(i)] = prior_sample(prior, a.seed, 0, uint64_t(i));
  auto backend = make_backend(a.device);
  Progress bar("decode", a.n, !a.quiet);
  std::vector<float> x = run_forward(model, *backend, GraphMode::decode, z.data(), a.n, a.batch,
                                     [&](int64_t done) { bar.update(done, ""); });
  bar.finish();
  model.norm.invert(x.data(), a.n, model.spec.input);  // into the data's units
  const auto [lo, hi] = std::minmax_element(x.begin(), x.end());
  const double mean = std::accumulate(x.begin(), x.end(), 0.0) / double(x.size());
  if (!a.out.empty()) save_matrix(a.out, x.data(), a.n, model.spec.input);
  if (!a.grid.empty()) {
    ImageGridOptions g = image_grid_options(x.data(), a.n, shape);
    g.cols = a.grid_cols;
    write_image_grid_png(a.grid, x.data(), a.n, model.spec.input, g);
  }
  std::printf("sampled %lld rows from %s: codes z ~ %s (%lld units, seed %llu), decoded; values: mean %.4f, min %.4f, max %.4f\n",
              (long long)a.n, a.model.c_str(), prior == PriorKind::uniform ? "U[-1, 1) per unit" : "N(0, I)", (long long)units,
              (unsigned long long)a.seed, mean, double(*lo), double(*hi));
  if (!a.out.empty()) std::printf("samples written to %s\n", a.out.c_str());
  if (!a.grid.empty())
    std::printf("image grid (%lld×%lld images) written to %s\n", (long long)shape.first, (long long)shape.second, a.grid.c_str());
}

}  // namespace

void add_sample(CLI::App& app) {
  auto a = std::make_shared<SampleArgs>();
  auto* s = app.add_subcommand("sample", "New rows from a generative model (a VAE or an adversarial autoencoder): codes drawn from its prior, decoded");
  s->add_option("--model", a->model, "Model file (safetensors) of a generative model (a VAE, or an adversarial autoencoder)")->required();
  s->add_option("--n", a->n, "Rows to draw")->capture_default_str();
  s->add_option("--seed", a->seed, "Seed of the prior draws (Philox: the same rows on every device)")
      ->check(non_negative_integer())
      ->capture_default_str();
  s->add_option("--out", a->out, "Output file: .npy, .csv or .tsv (in the data's units)");
  s->add_option("--grid", a->grid, "Also draw the samples as an image grid: a .png file");
  s->add_option("--image-shape", a->image_shape, "HxW of each image in --grid [default: square, e.g. 28x28 for 784 features]");
  s->add_option("--grid-cols", a->grid_cols, "Images per grid row (0: about square)")->capture_default_str();
  s->add_option("--batch", a->batch, "Rows per batch")->capture_default_str();
  s->add_option("--threads", a->threads, "CPU threads (0 = all cores)")->capture_default_str();
  s->add_option("--device", a->device, "cpu, cuda, cuda-sim (CUDA kernels run on the CPU) or auto")->capture_default_str();
  s->add_flag("--quiet", a->quiet, "No progress output");
  s->callback([a] { run_sample(*a); });
}

}  // namespace ae::cli
