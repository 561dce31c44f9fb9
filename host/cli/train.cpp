// `ae train`: train an autoencoder (by default the Fashion-MNIST one) and write the model.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>

#include <nlohmann/json.hpp>

#include "graph/spec.h"
#include "host/cli/cli.h"
#include "host/latent/hashing.h"
#include "host/progress.h"
#include "kernels/common/error.h"
#include "runtime/atomic_file.h"
#include "runtime/normalize.h"
#include "runtime/compiled_model.h"
#include "runtime/infer.h"
#include "runtime/trainer.h"

namespace ae::cli {

namespace {

struct TrainArgs {
  std::string spec, data = DEFAULT_TRAIN, val, init, out = "ae-model.safetensors", log_json, device = "cpu";
  std::string optimizer = "adam", loss = "mse", shuffle = "on", normalize, schedule = "constant", checkpoint;
  std::string precision = "fp32", save_dtype = "fp32";
  int64_t epochs = 10, steps = -1, batch = 256, log_every = 0, max_rows = -1, val_rows = -1;
  int64_t patience = 0, checkpoint_every = 0, warmup = 0, lr_step = 1000;
  double lr = NAN, momentum = NAN, weight_decay = NAN, val_split = 0, lr_gamma = 0.1, lr_min = 0, contamination = NAN;
  double d_lr = NAN, g_lr = NAN;            // an adversarial autoencoder's discriminator and generator rates
  bool nesterov = false, quiet = false, no_val = false, keep_best = false, resume = false, tied = false;
  std::string sparsity;                     // --sparsity l1:LAMBDA
  std::string noise;                        // --noise mask:P (denoising)
  std::string contractive;                  // --contractive LAMBDA
  std::string beta, kl_warmup;              // --beta B, --kl-warmup N (a VAE's KL term)
  std::string adversarial, prior;           // --adversarial DSPEC, --prior gaussian|uniform
  std::string labels;                       // one label per --data row (for --exclude-label)
  std::vector<std::string> exclude_labels;  // drop training rows with these labels
  uint64_t seed = 1;
  int threads = 0;
  DataArgs data_args;
};

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

// The flags of a run (the checks and the adversarial groups' rates are runtime/trainer's, shared
// with the C++ API), and where it checkpoints.
TrainOptions make_options(const TrainArgs& a, const Spec& spec) {
  if (a.shuffle != "on" && a.shuffle != "off") AE_FAIL("--shuffle ", a.shuffle, ": expected on or off");
  TrainSettings t;
  t.epochs = a.epochs, t.steps = a.steps, t.batch = a.batch, t.log_every = a.log_every, t.patience = a.patience;
  t.warmup = a.warmup, t.lr_step = a.lr_step, t.checkpoint_every = a.checkpoint_every;
  t.optimizer = a.optimizer, t.schedule = a.schedule;
  t.lr = a.lr, t.momentum = a.momentum, t.weight_decay = a.weight_decay, t.lr_gamma = a.lr_gamma, t.lr_min = a.lr_min;
  t.d_lr = a.d_lr, t.g_lr = a.g_lr;
  t.nesterov = a.nesterov, t.shuffle = a.shuffle == "on", t.keep_best = a.keep_best;
  TrainOptions o = make_train_options(t, spec);
  o.checkpoint = a.checkpoint.empty() ? a.out + ".ckpt" : a.checkpoint == "none" ? "" : a.checkpoint;
  return o;
}

// Drops the rows whose label (--labels FILE, or the CSV's --label-column) is one of --exclude-label:
// e.g. train on the normal classes only, then score the held-out class as anomalies.
void exclude_rows(Dataset& d, const TrainArgs& a, const std::string& path) {
  std::vector<std::string> labels = d.labels;
  if (!a.labels.empty()) {
    auto ints = load_labels(a.labels, "", a.max_rows);
    labels.clear();
    for (int32_t v : ints) labels.push_back(std::to_string(v));
  }
  if (labels.empty()) AE_FAIL("--exclude-label needs labels: --labels FILE or --label-column NAME");
  if (int64_t(labels.size()) != d.x.rows) AE_FAIL("--labels ", a.labels, ": ", labels.size(), " labels for ", d.x.rows, " rows of ", path);
  int64_t kept = 0;
  for (int64_t r = 0; r < d.x.rows; ++r) {
    bool drop = std::find(a.exclude_labels.begin(), a.exclude_labels.end(), labels[size_t(r)]) != a.exclude_labels.end();
    if (drop) continue;
    std::copy_n(d.x.data.begin() + r * d.x.cols, d.x.cols, d.x.data.begin() + kept * d.x.cols);
    ++kept;
  }
  if (kept == 0) AE_FAIL("--exclude-label removed every row of ", path);
  d.x.rows = kept;
  d.x.data.resize(size_t(kept * d.x.cols));
  d.labels.clear();
}

// Binary cross-entropy compares probabilities with targets in [0, 1]: the output layer must be a
// sigmoid and the (normalised) data must lie in [0, 1], or the loss is meaningless.
void check_bce(const Model& m, const Matrix& data, const std::string& path) {
  if (m.spec.decoder.back().act != Act::sigmoid)
    AE_FAIL("--loss bce needs a sigmoid output layer (", m.spec.to_compact(), " ends with ", act_name(m.spec.decoder.back().act),
            "); end the spec with 's' or use --loss mse");
  for (int64_t i = 0; i < int64_t(data.data.size()); ++i)
    if (!(data.data[size_t(i)] >= 0.f && data.data[size_t(i)] <= 1.f))
      AE_FAIL("--loss bce needs targets in [0, 1], but --data ", path, " row ", i / data.cols, ", column ", i % data.cols, " is ",
              data.data[size_t(i)], m.norm.kind == NormKind::none ? " (try --normalize minmax)" : " after normalisation");
}

// Flag checks that need no data, before any long work.
void check_args(const TrainArgs& a, const CLI::App& sub, const TrainOptions& o) {
  if (sub.count("--steps") && a.steps < 0) AE_FAIL("--steps must be ≥ 0, got ", a.steps);
  if (!(a.val_split >= 0 && a.val_split < 1)) AE_FAIL("--val-split must be in [0, 1), got ", a.val_split);
  if (a.val_split > 0 && !a.val.empty()) AE_FAIL("give either --val FILE or --val-split f, not both");
  if (!std::isnan(a.contamination) && !(a.contamination > 0 && a.contamination < 1))
    AE_FAIL("--contamination must be in (0, 1), got ", a.contamination);
  check_output_path(a.out, "--out");
  if (!a.log_json.empty()) check_output_path(a.log_json, "--log-json");
  if (!o.checkpoint.empty()) check_output_path(o.checkpoint, "--checkpoint");
  check_distinct({{"--out", a.out}, {"--log-json", a.log_json}, {"--checkpoint", o.checkpoint}, {"--data", a.data},
                  {"--val", a.val}, {"--init", a.init}, {"--labels", a.labels}});
  check_row_limit(a.max_rows, "--max-rows");
  check_row_limit(a.val_rows, "--val-rows");
  if (a.no_val && (!a.val.empty() || a.val_split > 0)) AE_FAIL("--no-val contradicts --val / --val-split; give one");
  if (!a.labels.empty() && a.exclude_labels.empty()) AE_FAIL("--labels is only used with --exclude-label");
  if (a.resume && o.checkpoint.empty()) AE_FAIL("--resume needs checkpoints; drop --checkpoint none");
}

// A fresh model from --spec, or --init's weights with the training record reset.
Model start_model(const TrainArgs& a, Loss loss) {
  if (a.init.empty())
    return Model::create(spec_from_args(a.spec, a.tied, a.sparsity, a.noise, a.contractive, a.beta, a.kl_warmup, a.adversarial,
                                        a.prior),
                         a.seed, loss);
  // A discriminator's weights are parameters --init's file does not hold (or holds for its own).
  if (!a.adversarial.empty() || !a.prior.empty())
    AE_FAIL(!a.adversarial.empty() ? "--adversarial " + a.adversarial : "--prior " + a.prior, " cannot change the model of --init ",
            a.init, ": a discriminator is part of the model's parameters; give it with --spec to start a new model");
  Model model = Model::load(a.init);
  // A penalty or a noise is no weight: --init keeps the model's, --sparsity and --noise replace it
  // (none removes it). A replaced noise has no data range yet: training records this data's.
  if (!a.sparsity.empty()) {
    model.spec.sparsity = parse_sparsity(a.sparsity, "--sparsity");
    validate_spec(model.spec, "--sparsity " + a.sparsity + " on --init " + a.init);
  }
  if (!a.contractive.empty()) {
    model.spec.contractive = parse_contractive(a.contractive, "--contractive");
    validate_spec(model.spec, "--contractive " + a.contractive + " on --init " + a.init);
  }
  if (!a.beta.empty()) {
    model.spec.beta = parse_beta(a.beta, "--beta");
    validate_spec(model.spec, "--beta " + a.beta + " on --init " + a.init);
  }
  if (!a.kl_warmup.empty()) {
    model.spec.kl_warmup = parse_kl_warmup(a.kl_warmup, "--kl-warmup");
    validate_spec(model.spec, "--kl-warmup " + a.kl_warmup + " on --init " + a.init);
  }
  if (!a.noise.empty()) {
    model.spec.noise = parse_noise(a.noise, "--noise");
    validate_spec(model.spec, "--noise " + a.noise + " on --init " + a.init);
  }
  if (!a.spec.empty() || a.tied) {
    Spec want = spec_from_args(a.spec.empty() ? model.spec.to_compact() : a.spec, a.tied);
    want.sparsity = model.spec.sparsity;
    want.noise = model.spec.noise;
    want.contractive = model.spec.contractive;
    want.beta = model.spec.beta;
    want.kl_warmup = model.spec.kl_warmup;
    if (want.to_compact() != model.spec.to_compact())
      AE_FAIL(a.spec.empty() ? std::string("--tied") : "--spec " + a.spec, " differs from the spec of --init ", a.init, " (",
              model.spec.to_compact(), "); drop it or use a matching model");
  }
  model.loss = loss;
  model.step = model.epoch = 0;
  model.seed = a.seed;
  model.history = nlohmann::json::array();
  model.threshold = nullptr;
  model.code_median.clear(), model.code_std.clear(), model.code_stats_rows = 0;
  return model;
}

struct TrainData {
  Matrix data, val;      // normalised
  std::string val_desc;  // where the validation rows come from ("" = none)
};

// Training rows, then validation from --val, --val-split, or (default job) the test images;
// the normalisation is fitted on the training rows and applied to both.
TrainData load_train_data(const TrainArgs& a, const CLI::App& sub, Model& model) {
  Dataset all = load_data(a.data, a.max_rows, "--data", a.data_args);
  // A convolutional spec reads each row as its input's C×H×W: an image of another shape is refused
  // here, before any training, even when the counts agree (a dense spec flattens any shape).
  check_image_shape(all.x, model.spec.input_shape, "--data " + a.data, "the spec's input");
  if (all.x.cols != model.spec.input)
    AE_FAIL("--data ", a.data, ": rows have ", all.x.cols, " features but the model's input is ", model.spec.input, " (spec ",
            model.spec.to_compact(), ")");
  if (!a.exclude_labels.empty()) exclude_rows(all, a, a.data);
  TrainData d;
  if (a.val_split > 0) {
    split_rows(all.x, a.val_split, a.seed, d.data, d.val);
    d.val_desc = "--val-split " + fmt("%g", a.val_split) + " of " + a.data;
  } else {
    d.data = std::move(all.x);
    std::string val_path = a.val;
    if (val_path.empty() && !sub.count("--data") && !a.no_val) val_path = DEFAULT_TEST;
    if (!val_path.empty()) {
      d.val = load_data(val_path, a.val_rows, "--val", a.data_args).x;
      check_image_shape(d.val, model.spec.input_shape, "--val " + val_path, "the spec's input");
      if (d.val.cols != model.spec.input)
        AE_FAIL("--val ", val_path, ": rows have ", d.val.cols, " features but the model's input is ", model.spec.input);
      d.val_desc = val_path;
    }
  }
  if (d.data.rows < 1) AE_FAIL("--data ", a.data, ": no training rows left");
  if (!a.normalize.empty()) {
    Normalizer fitted = Normalizer::fit(parse_norm_kind(a.normalize, "--normalize"), d.data.data.data(), d.data.rows,
                                        d.data.cols);
    // The noise's data range of --init was recorded in its old input scale: a refitted scale
    // records it again from this data (a --noise of this run has no range yet anyway).
    Noise& noise = model.spec.noise;
    if (!a.init.empty() && noise.needs_range() && noise.has_range && fitted.to_json() != model.norm.to_json()) {
      std::fprintf(stderr, "ae: --normalize %s refits the input scale of --init %s: the noise's data range [%g, %g] is "
                   "recorded again from --data\n", a.normalize.c_str(), a.init.c_str(), double(noise.lo), double(noise.hi));
      noise.has_range = false;
    }
    model.norm = std::move(fitted);
  }
  model.norm.apply(d.data.data.data(), d.data.rows, d.data.cols);
  model.norm.apply(d.val.data.data(), d.val.rows, d.val.cols);
  model.data = {{"file", a.data}, {"rows", d.data.rows}, {"cols", d.data.cols}, {"val", d.val_desc}, {"val_rows", d.val.rows}};
  if (!d.data.column_names.empty()) model.data["columns"] = d.data.column_names;
  if (!a.exclude_labels.empty()) model.data["excluded_labels"] = a.exclude_labels;
  if (model.loss == Loss::bce) check_bce(model, d.data, a.data);
  return d;
}

void print_banner(const TrainArgs& a, const Model& model, const TrainData& d, const TrainOptions& o, int64_t batch,
                  int64_t total, const Backend& backend) {
  std::fprintf(stderr, "ae: training %s (%lld parameters, code %lld)\n", model.spec.to_compact().c_str(),
               (long long)model.spec.parameter_count(), (long long)model.spec.code_units());
  std::fprintf(stderr, "    data %s: %lld × %lld, normalisation %s", a.data.c_str(), (long long)d.data.rows, (long long)d.data.cols,
               norm_kind_name(model.norm.kind));
  if (d.val.rows > 0) std::fprintf(stderr, "; validation %s: %lld rows", d.val_desc.c_str(), (long long)d.val.rows);
  std::fprintf(stderr, "\n    %s, %s lr %g (%s), batch %lld, %lld steps, seed %llu, shuffle %s\n    device: %s%s\n",
               loss_name(model.loss), cpu::opt_name(o.opt.kind), o.opt.lr, lr_schedule_name(o.schedule), (long long)batch,
               (long long)total, (unsigned long long)a.seed, a.shuffle.c_str(), backend.description().c_str(),
               model.precision == DType::f32 ? "" : (std::string(", precision ") + precision_name(model.precision) + " (" +
                                                     precision_description(model.precision) + ")").c_str());
  if (model.spec.adversarial.enabled()) {
    const double d_lr = o.group_opt.empty() ? o.opt.lr : o.group_opt[1].lr, g_lr = o.group_opt.empty() ? o.opt.lr : o.group_opt[2].lr;
    std::fprintf(stderr, "    adversarial: discriminator %s on the code, %s prior; each step: reconstruction (lr %g), "
                 "discriminator (lr %g), generator (lr %g)\n", model.spec.adversarial.to_string().c_str(),
                 prior_kind_name(model.spec.adversarial.prior), o.opt.lr, d_lr, g_lr);
  }
}

// An adversarial autoencoder's codes of `data` against its prior, per code unit: the largest |mean|
// and the range of the standard deviations (the prior's: 0, and 1 for gaussian, 1/√3 for uniform).
// Per unit, not pooled: pooling over units adds the spread of the unit means to the deviation.
void print_code_summary(Model& model, Backend& backend, const DataView& data, const std::string& what) {
  const std::vector<float> h = run_forward(model, backend, GraphMode::encode, data.data, data.rows);
  const int64_t units = model.spec.code_units(), rows = data.rows;
  double worst_mean = 0, sd_lo = INFINITY, sd_hi = 0;
  for (int64_t j = 0; j < units; ++j) {
    double sum = 0, sum2 = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const double v = h[size_t(r * units + j)];
      sum += v, sum2 += v * v;
    }
    const double mean = sum / double(rows), sd = std::sqrt(std::max(0.0, sum2 / double(rows) - mean * mean));
    worst_mean = std::max(worst_mean, std::abs(mean));
    sd_lo = std::min(sd_lo, sd), sd_hi = std::max(sd_hi, sd);
  }
  const bool uniform = model.spec.adversarial.prior == PriorKind::uniform;
  std::printf("codes of %s, per unit: |mean| at most %.4f, standard deviation %.4f to %.4f (the %s prior's: 0, %.4f)\n",
              what.c_str(), worst_mean, sd_lo, sd_hi, prior_kind_name(model.spec.adversarial.prior),
              uniform ? 1.0 / std::sqrt(3.0) : 1.0);
}

// Mean squared error per feature of the reconstructions (a VAE decodes its mean code μ).
double reconstruction_mse(const Model& model, Backend& backend, const DataView& data) {
  const std::vector<float> y = run_forward(model, backend, GraphMode::reconstruct, data.data, data.rows);
  double sum = 0;
  for (int64_t i = 0; i < data.rows * data.cols; ++i) {
    const double d = double(y[size_t(i)]) - double(data.data[i]);
    sum += d * d;
  }
  return sum / (double(data.rows) * double(data.cols));
}

void print_report(const TrainArgs& a, Model& model, const TrainData& d, const TrainOptions& o, const TrainResult& res,
                  Backend& backend) {
  std::printf("trained %lld steps in %s (%.0f samples/s%s, validation excluded)%s\n", (long long)res.steps,
              format_duration(res.seconds).c_str(), res.train_seconds > 0 ? double(res.samples) / res.train_seconds : 0.0,
              backend.name() == "cuda-sim" ? " simulated on the CPU, not a GPU speed" : "",
              res.stopped_early ? ", stopped early" : "");
  // A denoising model's training loss compares reconstructions of corrupted inputs with the clean
  // ones; the validation loss below sees clean inputs, so the two are not comparable: say so.
  const std::string noisy = model.spec.noise.kind == NoiseKind::none ? "" : ", inputs corrupted by " + model.spec.noise.to_string();
  if (model.spec.variational() && std::isfinite(res.final_train_loss)) {
    // β at the last step: a run shorter than its warm-up ends below the spec's β.
    const double beta = Term{"kl", model.spec.beta, -1, model.spec.kl_warmup}.weight_at(res.steps);
    std::string b = fmt("β = %g", beta);
    if (model.spec.kl_warmup > 0)
      b += beta < model.spec.beta ? fmt(" at the last step, still warming up to %g", model.spec.beta) : " after warm-up";
    std::printf("final train objective (%s summed over features + β·KL, %s%s): %.6f\n", loss_name(model.loss), b.c_str(),
                noisy.c_str(), res.final_train_loss);
  } else if (model.spec.adversarial.enabled() && std::isfinite(res.final_train_loss)) {
    std::string terms;  // the other phases' terms over the last logged interval
    const nlohmann::json last = model.history.empty() ? nlohmann::json() : model.history.back().value("terms", nlohmann::json());
    for (const char* name : {"d_real", "d_fake", "gen"})  // in phase order
      if (last.is_object() && last.contains(name) && last[name].is_number())
        terms += (terms.empty() ? "" : ", ") + std::string(name) + " " + fmt("%.6f", last[name].get<double>());
    std::printf("final train loss (%s reconstruction%s): %.6f; adversarial terms: %s\n", loss_name(model.loss), noisy.c_str(),
                res.final_train_loss, terms.c_str());
  } else if (std::isfinite(res.final_train_loss))
    std::printf("final train loss (%s%s%s%s): %.6f\n", loss_name(model.loss),
                model.spec.sparsity.kind == Sparsity::Kind::none ? "" : " + sparsity penalty",
                model.spec.contractive == 0 ? "" : " + contractive penalty", noisy.c_str(), res.final_train_loss);
  if (o.keep_best && res.best_step >= 0)
    std::printf("kept the best weights: step %lld, validation loss %.6f\n", (long long)res.best_step, res.best_val_loss);
  if (d.val.rows > 0 && model.spec.variational()) {  // the negative ELBO, its two terms, and the MSE of μ's reconstruction
    DataView vv{d.val.data.data(), d.val.rows, d.val.cols};
    CompiledModel compiled(model, backend, 2);
    std::vector<double> terms;
    const double elbo = evaluate(compiled, vv, 1024, nullptr, std::nullopt, &terms);
    std::printf("negative ELBO on %s (%lld rows): %.4f %s per row (reconstruction %.4f + KL %.4f; one z per row)\n",
                d.val_desc.c_str(), (long long)d.val.rows, elbo, model.loss == Loss::bce ? "nats" : "(mse sum)", terms.at(0),
                terms.at(1));
  }
  if (model.spec.adversarial.enabled()) {
    const bool val = d.val.rows > 0;
    const int64_t rows = std::min<int64_t>(val ? d.val.rows : d.data.rows, 10000);
    DataView v{val ? d.val.data.data() : d.data.data.data(), rows, d.data.cols};
    print_code_summary(model, backend, v, (val ? d.val_desc : a.data) + " (" + std::to_string(rows) + " rows)");
  }
  if (d.val.rows > 0) {
    DataView vv{d.val.data.data(), d.val.rows, d.val.cols};
    double mse = model.spec.variational() ? reconstruction_mse(model, backend, vv) : evaluate(model, backend, vv, 1024, nullptr, Loss::mse);
    // IDX image files (idx3) have one feature per pixel: say so, it is what people look for.
    bool images = d.val_desc.find("idx3-ubyte") != std::string::npos;
    std::printf("reconstruction error on %s (%lld rows): %.6f mean squared error per %s%s\n", d.val_desc.c_str(),
                (long long)d.val.rows, mse, images ? "pixel" : "feature", model.norm.kind == NormKind::none ? "" : " (normalised units)");
  }
  if (!model.threshold.is_null())
    std::printf("anomaly threshold: %.6g (training-score quantile %.4g)\n", model.threshold["value"].get<double>(), 1.0 - a.contamination);
  std::printf("model written to %s%s\n", std::filesystem::absolute(a.out).string().c_str(),
              model.save_dtype == DType::f32 ? "" : (std::string(" (") + precision_name(model.save_dtype) + " weights)").c_str());
}

// --save-dtype: the dtype of the weights in --out (checkpoints are always fp32).
DType parse_save_dtype(const std::string& value) {
  if (const auto d = dtype_of_precision_name(value)) return *d;
  AE_FAIL("--save-dtype ", value, ": unknown dtype; expected one of: fp32, bf16, fp16");
}

void run_train(const TrainArgs& a, const CLI::App& sub) {
  apply_threads(a.threads);
  auto loss = parse_loss_name(a.loss);
  if (!loss) AE_FAIL("--loss ", a.loss, ": unknown loss; expected one of: ", loss_names_list());
  Model model = start_model(a, *loss);
  model.precision = parse_precision(a.precision);
  model.save_dtype = parse_save_dtype(a.save_dtype);  // not --init's: fp32 unless given again
  TrainOptions o = make_options(a, model.spec);
  check_args(a, sub, o);
  bool resume = a.resume;
  std::error_code no_checkpoint;
  if (resume && !std::filesystem::exists(o.checkpoint, no_checkpoint)) {
    if (!a.quiet) std::fprintf(stderr, "ae: no checkpoint at %s yet: starting from the beginning\n", o.checkpoint.c_str());
    resume = false;
  }
  auto backend = make_backend(a.device);
  check_precision(*backend, model.precision);
  TrainData d = load_train_data(a, sub, model);
  DataView tv{d.data.data.data(), d.data.rows, d.data.cols}, vv{d.val.data.data(), d.val.rows, d.val.cols};
  const int64_t batch = std::min(o.batch, d.data.rows);
  const int64_t total = o.steps >= 0 ? o.steps : o.epochs * ((d.data.rows + batch - 1) / batch);
  if (!a.quiet) print_banner(a, model, d, o, batch, total, *backend);

  std::unique_ptr<AtomicFile> log;
  if (!a.log_json.empty()) log = std::make_unique<AtomicFile>(a.log_json);
  std::vector<nlohmann::json> log_lines;  // this process's log events, with measured throughput
  Progress bar("train", total, !a.quiet);
  auto on_event = [&](const TrainEvent& ev) {
    if (ev.kind == TrainEvent::log) {
      std::string text = "epoch " + std::to_string(ev.epoch) + "  step " + std::to_string(ev.step) + "/" + std::to_string(ev.total_steps) +
                         "  train loss " + fmt("%.6f", ev.train_loss);
      if (!ev.terms.empty()) {
        std::string parts;
        for (const auto& [name, v] : ev.terms) parts += (parts.empty() ? "" : ", ") + name + " " + fmt("%.6f", v);
        text += " (" + parts + ")";
      }
      if (std::isfinite(ev.val_loss)) text += "  val loss " + fmt("%.6f", ev.val_loss) + (ev.improved ? " *" : "");
      if (ev.skipped_steps >= 0)  // fp16: steps whose gradients overflowed, and the loss scale now
        text += "  skipped " + std::to_string(ev.skipped_steps) + " (scale " + fmt("%g", ev.loss_scale) + ")";
      text += "  " + fmt("%.0f", ev.samples_per_s) + " samples/s";
      if (ev.stopping) text += "  (early stop: no improvement for " + std::to_string(o.patience) + " epochs)";
      bar.line(text);
      log_lines.push_back({{"step", ev.step}, {"epoch", ev.epoch}, {"train_loss", ev.train_loss},
                           {"val_loss", std::isfinite(ev.val_loss) ? nlohmann::json(ev.val_loss) : nlohmann::json()},
                           {"samples_per_s", ev.samples_per_s}, {"lr", ev.lr}});
      if (ev.skipped_steps >= 0) {
        log_lines.back()["skipped_steps"] = ev.skipped_steps;
        log_lines.back()["loss_scale"] = ev.loss_scale;
      }
      if (!ev.terms.empty()) {
        nlohmann::json terms = nlohmann::json::object();
        for (const auto& [name, v] : ev.terms) terms[name] = v;
        log_lines.back()["terms"] = terms;
      }
    }
    bar.update(ev.step, "loss " + fmt("%.5f", ev.train_loss));
  };
  TrainResult res = train(model, *backend, tv, d.val.rows > 0 ? &vv : nullptr, o, on_event, resume);
  bar.finish();
  if (auto* dev = backend->device(); dev && !a.quiet) std::fprintf(stderr, "    %s\n", dev->memory_report().c_str());
  if (res.resumed && !a.quiet) std::fprintf(stderr, "ae: resumed from %s at step %lld\n", o.checkpoint.c_str(), (long long)res.resumed_at);
  if (res.resumed && res.resumed_at == res.steps && !a.quiet)
    std::fprintf(stderr, "ae: the checkpoint's run was already complete; writing its model\n");

  if (!std::isnan(a.contamination)) {
    std::vector<float> scores;
    evaluate(model, *backend, tv, 1024, &scores);
    model.threshold = {{"value", quantile(scores, 1.0 - a.contamination)}, {"contamination", a.contamination},
                       {"fitted_on", "training data, " + std::to_string(d.data.rows) + " rows"}};
  }
  if (d.data.rows > 0) {
    // The codes' per-unit medians and deviations, for `ae hash`: one forward pass over the
    // training rows (a VAE's μ).
    const std::vector<float> codes = run_forward(model, *backend, GraphMode::encode, tv.data, tv.rows, 1024);
    latent::CodeStats cs = latent::fit_code_stats(codes.data(), tv.rows, model.spec.code_units());
    model.code_median = std::move(cs.median);
    model.code_std = std::move(cs.std);
    model.code_stats_rows = tv.rows;
  }
  model.save(a.out);
  if (log) {
    // Intervals logged before a resume come from the checkpoint's history (no timing there).
    for (const auto& h : model.history)
      if (h.value("step", int64_t(0)) <= res.resumed_at) log->write(h.dump() + "\n");
    for (const auto& l : log_lines) log->write(l.dump() + "\n");
    log->commit();
  }
  print_report(a, model, d, o, res, *backend);
}

}  // namespace

void add_train(CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  auto* s = app.add_subcommand("train", "Train an autoencoder (default: 784-256r-32-256r-784s on Fashion-MNIST)");
  s->add_option("--spec", a->spec, "Layers: compact string (784-256r-32-256r-784s), JSON, or a .json file [default: " + DEFAULT_SPEC + "]");
  s->add_flag("--tied", a->tied, "Tied weights: each decoder layer uses its mirror encoder layer's weight, transposed");
  s->add_option("--sparsity", a->sparsity, "Penalty on the code: l1:LAMBDA adds LAMBDA·(1/B)·Σ|code| to the loss, kl:RHO:BETA adds BETA·Σ_j KL(RHO ‖ mean of code unit j) (sigmoid code); none removes one (--init)")->each([](const std::string& v) { parse_sparsity(v, "--sparsity"); });
  s->add_option("--noise", a->noise, NOISE_HELP)->each([](const std::string& v) { parse_noise(v, "--noise"); });
  add_contractive_option(*s, a->contractive);
  add_vae_options(*s, a->beta, a->kl_warmup);
  add_adversarial_options(*s, a->adversarial, a->prior);
  s->add_option("--data", a->data, "Training data: IDX (plain or .gz), NPY or CSV")->capture_default_str();
  add_data_options(*s, a->data_args);
  s->add_option("--labels", a->labels, "One label per --data row (CSV, NPY or IDX), for --exclude-label");
  s->add_option("--exclude-label", a->exclude_labels, "Train without the rows of this label (repeatable; e.g. a class kept for anomaly scoring)");
  s->add_option("--val", a->val, "Validation data; its loss is reported each epoch [default: Fashion-MNIST test images with the default --data]");
  s->add_option("--val-split", a->val_split, "Hold out this fraction of --data (seeded) for validation");
  s->add_flag("--no-val", a->no_val, "Do not validate (the default job otherwise uses the test images)");
  s->add_option("--epochs", a->epochs, "Passes over the data")->capture_default_str();
  s->add_option("--steps", a->steps, "Exact number of optimizer steps (overrides --epochs; 0 writes the initial model)");
  s->add_option("--batch", a->batch, "Minibatch size")->capture_default_str();
  s->add_option("--optimizer", a->optimizer, "sgd, adam, adamw or rmsprop")->capture_default_str();
  s->add_option("--lr", a->lr, "Learning rate [default: adam/adamw 1e-3, rmsprop 1e-3, sgd 1e-3]");
  s->add_option("--d-lr", a->d_lr, "Adversarial autoencoder: the discriminator's learning rate (its own --optimizer) "
                                   "[default: --lr]")->check(finite_number());
  s->add_option("--g-lr", a->g_lr, "Adversarial autoencoder: the generator phase's learning rate (the encoder's own "
                                   "--optimizer state against the discriminator) [default: --lr]")->check(finite_number());
  s->add_option("--momentum", a->momentum, "Momentum (sgd, rmsprop) [default: 0]");
  s->add_flag("--nesterov", a->nesterov, "Nesterov momentum (sgd)");
  s->add_option("--weight-decay", a->weight_decay, "Weight decay (L2; decoupled for adamw) [default: 0; adamw 0.01]");
  s->add_option("--lr-schedule", a->schedule, "constant, step or cosine")->capture_default_str();
  s->add_option("--warmup", a->warmup, "Linear learning-rate warm-up over N steps")->capture_default_str();
  s->add_option("--lr-step", a->lr_step, "step schedule: steps between decays")->capture_default_str();
  s->add_option("--lr-gamma", a->lr_gamma, "step schedule: decay factor")->capture_default_str();
  s->add_option("--lr-min", a->lr_min, "cosine schedule: final learning rate")->capture_default_str();
  s->add_option("--loss", a->loss, "mse or bce (a sigmoid output with bce is computed from logits)")->capture_default_str();
  s->add_option("--normalize", a->normalize, "none, minmax or zscore, fitted on the training rows and stored in the model [default: none, or --init's]");
  s->add_option("--seed", a->seed, "Seed of initialisation, shuffling and --val-split")
      ->check(non_negative_integer())
      ->capture_default_str();
  s->add_option("--threads", a->threads, "CPU threads (0 = all cores)")->capture_default_str();
  s->add_option("--shuffle", a->shuffle, "on or off")->capture_default_str();
  s->add_option("--patience", a->patience, "Stop after N epochs without a better validation loss (0 = never)")->capture_default_str();
  s->add_flag("--keep-best", a->keep_best, "End with the weights of the best validation loss");
  s->add_option("--checkpoint", a->checkpoint, "Checkpoint file, written every epoch [default: OUT.ckpt; 'none' to disable]");
  s->add_option("--checkpoint-every", a->checkpoint_every, "Also checkpoint every N steps");
  s->add_flag("--resume", a->resume, "Continue from the checkpoint exactly where it stopped");
  s->add_option("--contamination", a->contamination, "Store an anomaly threshold: the training-score quantile 1 − q")
      ->check(finite_number());
  s->add_option("--init", a->init, "Start from the weights of this model file");
  s->add_option("--out", a->out, "Model file to write (safetensors)")->capture_default_str();
  s->add_option("--log-json", a->log_json, "Write one JSON line per epoch (or per --log-every steps)");
  s->add_option("--log-every", a->log_every, "Log every N steps instead of every epoch");
  s->add_option("--device", a->device, "cpu, cuda, cuda-sim (CUDA kernels run on the CPU) or auto")->capture_default_str();
  add_precision_option(*s, a->precision);
  s->add_option("--save-dtype", a->save_dtype,
                "fp32, bf16 or fp16: the dtype of the weights in --out. bf16/fp16 halve the file for inference (rounded "
                "to nearest even; fp16 refuses weights beyond ±65504). Checkpoints are always fp32, so --resume is exact; "
                "a model loaded from a bf16/fp16 file trains in fp32 from its exact values")
      ->capture_default_str();
  s->add_option("--max-rows", a->max_rows, "Use only the first N rows of --data");
  s->add_option("--val-rows", a->val_rows, "Use only the first N rows of --val");
  s->add_flag("--quiet", a->quiet, "No progress output");
  s->callback([a, s] { run_train(*a, *s); });
}

}  // namespace ae::cli
