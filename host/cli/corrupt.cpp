// `ae corrupt`: a corrupted copy of a data file, drawn by the generator denoising training uses
// (kernels/common/noise.h) at step 1 under --seed, keyed by each element's offset in the whole
// file (training keys by the offset in its minibatch, after shuffling and normalisation, so the two
// coincide only for a first batch of the file's first rows, unshuffled and unnormalised), so a
// denoising model can be tried on inputs it never saw clean: `ae reconstruct --data noisy --reference clean`. Values are corrupted
// as the loaders read them, without normalisation: IDX pixels in [0, 1], NPY and CSV as they are.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>

#include "host/cli/cli.h"
#include "kernels/common/error.h"
#include "kernels/cpu/noise.h"

namespace ae::cli {

namespace {

struct CorruptArgs {
  std::string data, out, noise;
  uint64_t seed = 1;  // ae train's default seed
  int64_t max_rows = -1;
  int threads = 0;
  DataArgs data_args;
};

void run_corrupt(const CorruptArgs& a) {
  apply_threads(a.threads);
  Noise noise = parse_noise(a.noise, "--noise");
  if (noise.kind == NoiseKind::none)
    AE_FAIL("--noise none: nothing to corrupt; give mask:P, gaussian:S, gaussian:S:clip or saltpepper:P");
  check_output_path(a.out, "--out", {".npy", ".csv", ".tsv"});
  check_distinct({{"--out", a.out}, {"--data", a.data}});
  check_row_limit(a.max_rows, "--max-rows");
  const Matrix x = load_data(a.data, a.max_rows, "--data", a.data_args).x;
  // As in training: salt-and-pepper values and the gaussian clip are the data's own range
  // unless the flag gives one.
  if (noise.needs_range() && !noise.has_range) {
    const auto [lo, hi] = std::minmax_element(x.data.begin(), x.data.end());
    noise.has_range = true;
    noise.lo = *lo;
    noise.hi = *hi;
  }
  std::vector<float> y(x.data.size());  // [rows, cols]; element i is Philox index i, as a training batch's
  cpu::corrupt(noise.params(), a.seed, 1, x.data.data(), y.data(), int64_t(y.size()));
  int64_t changed = 0;  // bit for bit: a NaN left as it was is unchanged, a zero masked to zero too
  for (size_t i = 0; i < y.size(); ++i) changed += std::memcmp(&y[i], &x.data[i], sizeof(float)) != 0;
  save_matrix(a.out, y.data(), x.rows, x.cols, x.column_names);
  std::printf("corrupted %lld rows × %lld of %s with %s (seed %llu): %.2f %% of the elements changed → %s\n",
              (long long)x.rows, (long long)x.cols, a.data.c_str(), noise.to_string().c_str(),
              (unsigned long long)a.seed, 100.0 * double(changed) / double(y.size()), a.out.c_str());
}

}  // namespace

void add_corrupt(CLI::App& app) {
  auto a = std::make_shared<CorruptArgs>();
  auto* s = app.add_subcommand("corrupt", "Write a corrupted copy of a data file with the noise of denoising training");
  s->add_option("--data", a->data, "Data: IDX (pixels read as [0, 1]), NPY or CSV; corrupted as read, not normalised")
      ->required();
  s->add_option(
       "--noise", a->noise,
       "mask:P, gaussian:S, gaussian:S:clip or saltpepper:P, each optionally :LO:HI (the range of saltpepper's "
       "values and gaussian's clip; default: the data's own min and max)")
      ->required();
  s->add_option("--out", a->out, "Output file: .npy, .csv or .tsv")->required();
  s->add_option("--seed", a->seed, "Philox seed; element i of the file (row-major) gets the draw of training step 1 for minibatch offset i under ae train --seed S")
      ->check(non_negative_integer())
      ->capture_default_str();
  add_data_options(*s, a->data_args, ImageShapeFlag::none);  // no model: rows are corrupted as they are
  s->add_option("--max-rows", a->max_rows, "Only the first N rows");
  s->add_option("--threads", a->threads, "CPU threads (0 = all cores)")->capture_default_str();
  s->callback([a] { run_corrupt(*a); });
}

}  // namespace ae::cli
