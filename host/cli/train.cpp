// `ae train`: train an autoencoder (by default the Fashion-MNIST one) and write the model.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>

#include <nlohmann/json.hpp>

#include "graph/spec.h"
#include "host/cli/cli.h"
#include "host/progress.h"
#include "kernels/common/error.h"
#include "runtime/atomic_file.h"
#include "runtime/trainer.h"

namespace ae::cli {

namespace {

struct TrainArgs {
  std::string spec, data = DEFAULT_TRAIN, val, init, out = "ae-model.safetensors", log_json, device = "cpu";
  std::string optimizer = "adam", loss = "mse", shuffle = "on";
  int64_t epochs = 10, steps = -1, batch = 256, log_every = 0, max_rows = -1, val_rows = -1;
  double lr = NAN, momentum = NAN, weight_decay = NAN;
  bool nesterov = false, quiet = false, no_val = false;
  uint64_t seed = 1;
  int threads = 0;
};

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

void run_train(const TrainArgs& a, const CLI::App& sub) {
  int threads = apply_threads(a.threads);
  auto loss = parse_loss_name(a.loss);
  if (!loss) AE_FAIL("--loss ", a.loss, ": unknown loss; expected one of: ", loss_names_list());
  auto kind = cpu::parse_opt_name(a.optimizer);
  if (!kind) AE_FAIL("--optimizer ", a.optimizer, ": unknown optimizer; expected one of: ", cpu::opt_names_list());
  if (a.shuffle != "on" && a.shuffle != "off") AE_FAIL("--shuffle ", a.shuffle, ": expected on or off");
  if (a.batch < 1) AE_FAIL("--batch must be ≥ 1, got ", a.batch);
  if (a.epochs < 0) AE_FAIL("--epochs must be ≥ 0, got ", a.epochs);
  if (a.log_every < 0) AE_FAIL("--log-every must be ≥ 0, got ", a.log_every);
  check_output_path(a.out, "--out");
  if (!a.log_json.empty()) check_output_path(a.log_json, "--log-json");

  TrainOptions o;
  o.epochs = a.epochs;
  o.steps = a.steps;
  o.batch = a.batch;
  o.shuffle = a.shuffle == "on";
  o.log_every = a.log_every;
  o.opt = cpu::default_opt_config(*kind);
  if (!std::isnan(a.lr)) o.opt.lr = a.lr;
  if (!std::isnan(a.momentum)) o.opt.momentum = a.momentum;
  if (!std::isnan(a.weight_decay)) o.opt.weight_decay = a.weight_decay;
  o.opt.nesterov = a.nesterov;
  cpu::validate_opt_config(o.opt);

  auto backend = make_backend(a.device);
  Model model;
  if (!a.init.empty()) {
    model = Model::load(a.init);
    if (!a.spec.empty() && parse_spec(a.spec).to_compact() != model.spec.to_compact())
      AE_FAIL("--spec ", a.spec, " differs from the spec of --init ", a.init, " (", model.spec.to_compact(), "); drop --spec or use a matching model");
    model.loss = *loss;
    model.step = model.epoch = 0;
    model.seed = a.seed;
    model.history = nlohmann::json::array();
  } else {
    model = Model::create(parse_spec(a.spec.empty() ? DEFAULT_SPEC : a.spec), a.seed, *loss);
  }

  // The default job validates on Fashion-MNIST's test images unless told otherwise.
  std::string val_path = a.val;
  bool default_data = !sub.count("--data");
  if (val_path.empty() && default_data && !a.no_val) val_path = DEFAULT_TEST;
  Matrix data = load_data(a.data, a.max_rows, "--data");
  if (data.cols != model.spec.input)
    AE_FAIL("--data ", a.data, ": rows have ", data.cols, " features but the model's input is ", model.spec.input, " (spec ",
            model.spec.to_compact(), ")");
  Matrix val;
  if (!val_path.empty()) {
    val = load_data(val_path, a.val_rows, "--val");
    if (val.cols != model.spec.input)
      AE_FAIL("--val ", val_path, ": rows have ", val.cols, " features but the model's input is ", model.spec.input);
  }
  DataView tv{data.data.data(), data.rows, data.cols}, vv{val.data.data(), val.rows, val.cols};

  if (!a.quiet)
    std::fprintf(stderr, "ae: training %s (%lld parameters) on %s: %lld rows × %lld; %s, %s lr %g, batch %lld, %s, %d threads\n",
                 model.spec.to_compact().c_str(), (long long)model.spec.parameter_count(), a.data.c_str(), (long long)data.rows,
                 (long long)data.cols, loss_name(*loss), cpu::opt_name(o.opt.kind), o.opt.lr, (long long)std::min(o.batch, data.rows),
                 backend->description().c_str(), threads);

  std::unique_ptr<AtomicFile> log;
  if (!a.log_json.empty()) log = std::make_unique<AtomicFile>(a.log_json);
  const int64_t total = o.steps >= 0 ? o.steps : o.epochs * ((data.rows + std::min(o.batch, data.rows) - 1) / std::min(o.batch, data.rows));
  Progress bar("train", total, !a.quiet);
  auto on_event = [&](const TrainEvent& ev) {
    if (ev.kind == TrainEvent::log) {
      std::string text = "epoch " + std::to_string(ev.epoch) + "  step " + std::to_string(ev.step) + "/" + std::to_string(ev.total_steps) +
                         "  train loss " + fmt("%.6f", ev.train_loss);
      if (std::isfinite(ev.val_loss)) text += "  val loss " + fmt("%.6f", ev.val_loss);
      text += "  " + fmt("%.0f", ev.samples_per_s) + " samples/s";
      bar.line(text);
      if (log) {
        nlohmann::json j = {{"step", ev.step}, {"epoch", ev.epoch}, {"train_loss", ev.train_loss},
                            {"val_loss", std::isfinite(ev.val_loss) ? nlohmann::json(ev.val_loss) : nlohmann::json()},
                            {"samples_per_s", ev.samples_per_s}};
        log->write(j.dump() + "\n");
      }
    }
    bar.update(ev.step, "loss " + fmt("%.5f", ev.train_loss));
  };
  TrainResult res = train(model, *backend, tv, val_path.empty() ? nullptr : &vv, o, on_event);
  bar.finish();
  model.save(a.out);
  if (log) log->commit();

  std::printf("trained %lld steps in %s (%.0f samples/s)\n", (long long)res.steps, format_duration(res.seconds).c_str(),
              res.seconds > 0 ? double(res.steps) * double(std::min(o.batch, data.rows)) / res.seconds : 0.0);
  std::printf("final train loss (%s): %.6f\n", loss_name(*loss), res.final_train_loss);
  if (!val_path.empty()) {
    double mse = evaluate(model, *backend, vv, 1024, nullptr, Loss::mse);
    std::printf("reconstruction error on %s (%lld rows): %.6f mean squared error per feature", val_path.c_str(), (long long)val.rows, mse);
    if (*loss != Loss::mse) std::printf(", %s loss %.6f", loss_name(*loss), res.final_val_loss);
    std::printf("\n");
  }
  std::printf("model written to %s\n", std::filesystem::absolute(a.out).string().c_str());
}

}  // namespace

void add_train(CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  auto* s = app.add_subcommand("train", "Train an autoencoder (default: 784-256r-32-256r-784s on Fashion-MNIST)");
  s->add_option("--spec", a->spec, "Layers: compact string (784-256r-32-256r-784s), JSON, or a .json file [default: " + DEFAULT_SPEC + "]");
  s->add_option("--data", a->data, "Training data (IDX, plain or .gz)")->capture_default_str();
  s->add_option("--val", a->val, "Validation data; its loss is reported each epoch [default: Fashion-MNIST test images with the default --data]");
  s->add_flag("--no-val", a->no_val, "Do not validate (the default job otherwise uses the test images)");
  s->add_option("--epochs", a->epochs, "Passes over the data")->capture_default_str();
  s->add_option("--steps", a->steps, "Exact number of optimizer steps (overrides --epochs; 0 writes the initial model)");
  s->add_option("--batch", a->batch, "Minibatch size")->capture_default_str();
  s->add_option("--optimizer", a->optimizer, "sgd, adam, adamw or rmsprop")->capture_default_str();
  s->add_option("--lr", a->lr, "Learning rate [default: PyTorch's: adam/adamw 1e-3, rmsprop 1e-2, sgd 1e-2]");
  s->add_option("--momentum", a->momentum, "Momentum (sgd, rmsprop) [default: 0]");
  s->add_flag("--nesterov", a->nesterov, "Nesterov momentum (sgd)");
  s->add_option("--weight-decay", a->weight_decay, "Weight decay (L2; decoupled for adamw) [default: 0; adamw 0.01]");
  s->add_option("--loss", a->loss, "mse or bce (a sigmoid output with bce is computed from logits)")->capture_default_str();
  s->add_option("--seed", a->seed, "Seed of initialisation and shuffling")->capture_default_str();
  s->add_option("--threads", a->threads, "CPU threads (0 = all cores)")->capture_default_str();
  s->add_option("--shuffle", a->shuffle, "on or off")->capture_default_str();
  s->add_option("--init", a->init, "Start from the weights of this model file");
  s->add_option("--out", a->out, "Model file to write (safetensors)")->capture_default_str();
  s->add_option("--log-json", a->log_json, "Write one JSON line per epoch (or per --log-every steps)");
  s->add_option("--log-every", a->log_every, "Log every N steps instead of every epoch");
  s->add_option("--device", a->device, "cpu or auto")->capture_default_str();
  s->add_option("--max-rows", a->max_rows, "Use only the first N rows of --data");
  s->add_option("--val-rows", a->val_rows, "Use only the first N rows of --val");
  s->add_flag("--quiet", a->quiet, "No progress output");
  s->callback([a, s] { run_train(*a, *s); });
}

}  // namespace ae::cli
