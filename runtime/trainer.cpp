// Training loop, schedules, early stopping, checkpoints and evaluation.
#include "runtime/trainer.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <tuple>
#include <memory>
#include <numeric>

#include "graph/spec_options.h"
#include "graph/build.h"
#include "graph/json_text.h"
#include "kernels/common/amp.h"
#include "kernels/common/vae.h"
#include "kernels/common/error.h"
#include "kernels/common/philox.h"
#include "runtime/executor.h"

namespace ae {

namespace {

using Clock = std::chrono::steady_clock;
constexpr double PI = 3.14159265358979323846;

void gather_rows(const DataView& d, const int64_t* rows, int64_t n, float* out) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(out + i * d.cols, d.data + rows[i] * d.cols, size_t(d.cols) * sizeof(float));
}

void copy_values(const ParamStore& from, ParamStore& to) {
  for (size_t i = 0; i < from.count(); ++i)
    std::memcpy(to.value(i), from.value(i), size_t(from.info(i).size()) * sizeof(float));
  to.bump_version();  // executors cached on `to` re-read it (keep-best restores the best weights)
}

nlohmann::json opt_settings(const cpu::OptConfig& c) {
  return {{"optimizer", cpu::opt_name(c.kind)}, {"lr", c.lr}, {"momentum", c.momentum}, {"dampening", c.dampening},
          {"nesterov", c.nesterov}, {"weight_decay", c.weight_decay}, {"betas", {c.beta1, c.beta2}}, {"eps", c.eps},
          {"alpha", c.alpha}, {"centered", c.centered}};
}

// Everything that must be equal for a checkpoint to continue this run.
nlohmann::json run_settings(const Model& m, const DataView& tr, const DataView* val, const TrainOptions& o, int64_t batch,
                            int64_t total, const std::string& device_name) {
  nlohmann::json j = {
      {"spec", m.spec.to_compact()}, {"loss", loss_name(m.loss)}, {"batch", batch}, {"total_steps", total},
      {"schedule", lr_schedule_name(o.schedule)}, {"warmup", o.warmup}, {"lr_step", o.lr_step}, {"lr_gamma", o.lr_gamma},
      {"lr_min", o.lr_min}, {"seed", m.seed}, {"shuffle", o.shuffle}, {"patience", o.patience}, {"keep_best", o.keep_best},
      {"data", {{"rows", tr.rows}, {"cols", tr.cols}, {"fingerprint", std::to_string(data_fingerprint(tr))}}},
      {"normalization", norm_kind_name(m.norm.kind)},
      // bitwise reproducibility holds per backend and thread count
      {"device", device_name}, {"threads", omp_get_max_threads()}};
  // Mixed precision changes every step's bits; fp32 runs leave the key out (as checkpoints written
  // before it existed did), so they resume as before.
  if (m.precision != DType::f32) j["precision"] = precision_name(m.precision);
  j.update(opt_settings(o.opt));
  if (!o.group_opt.empty()) {
    j["group_optimizers"] = nlohmann::json::array();
    for (const auto& g : o.group_opt) j["group_optimizers"].push_back(opt_settings(g));
  }
  if (val) j["val"] = {{"rows", val->rows}, {"fingerprint", std::to_string(data_fingerprint(*val))}};
  return j;
}

struct LoopState {
  int64_t run_step = 0, step_in_epoch = 0, bad_epochs = 0, best_step = -1, loss_rows = 0;
  double loss_sum = 0, best_val = std::numeric_limits<double>::infinity();
  bool finished = false, stopped_early = false;
  std::vector<double> term_sums;  // per objective term, Σ value·rows since the last log (several terms only)

  nlohmann::json to_json() const {
    nlohmann::json j = {{"run_step", run_step}, {"step_in_epoch", step_in_epoch}, {"bad_epochs", bad_epochs},
                        {"best_step", best_step}, {"loss_rows", loss_rows}, {"loss_sum", loss_sum},
                        {"best_val", std::isfinite(best_val) ? nlohmann::json(best_val) : nlohmann::json()},
                        {"finished", finished}, {"stopped_early", stopped_early}};
    if (!term_sums.empty()) j["term_sums"] = term_sums;
    return j;
  }
  static LoopState from_json(const nlohmann::json& j, const std::string& where) {
    LoopState s;
    try {
      s.run_step = j.at("run_step").get<int64_t>();
      s.step_in_epoch = j.at("step_in_epoch").get<int64_t>();
      s.bad_epochs = j.at("bad_epochs").get<int64_t>();
      s.best_step = j.at("best_step").get<int64_t>();
      s.loss_rows = j.at("loss_rows").get<int64_t>();
      s.loss_sum = j.at("loss_sum").get<double>();
      if (!j.at("best_val").is_null()) s.best_val = j.at("best_val").get<double>();
      s.finished = j.at("finished").get<bool>();
      s.stopped_early = j.at("stopped_early").get<bool>();
      if (j.contains("term_sums")) s.term_sums = j.at("term_sums").get<std::vector<double>>();
    } catch (const nlohmann::json::exception& e) {
      AE_FAIL(where, ": checkpoint loop state is incomplete: ", e.what());
    }
    return s;
  }
};

void check_same_settings(const nlohmann::json& saved, const nlohmann::json& now, const std::string& path) {
  // The data first: other settings (the batch is clamped to the rows) follow from it.
  std::vector<std::string> keys = {"data", "val"};
  for (auto it = now.begin(); it != now.end(); ++it)
    if (it.key() != "data" && it.key() != "val") keys.push_back(it.key());
  for (auto it = saved.begin(); it != saved.end(); ++it)  // a setting the checkpoint has and this run lacks
    if (!now.contains(it.key()))
      AE_FAIL(path, ": checkpoint was written by a run with different settings: ", it.key(), " was ",
              json_shown(it.value(), 200), ", now absent; resume with the same data and options, or start afresh without --resume");
  for (const auto& key : keys) {
    if (!now.contains(key)) continue;
    if (!saved.contains(key) || saved[key] != now[key])
      AE_FAIL(path, ": checkpoint was written by a run with different settings: ", key, " was ",
              saved.contains(key) ? json_shown(saved[key], 200) : "absent", ", now ", json_shown(now[key], 200),
              "; resume with the same data and options, or start afresh without --resume");
  }
}

}  // namespace

const char* lr_schedule_name(LrSchedule s) {
  switch (s) {
    case LrSchedule::constant: return "constant";
    case LrSchedule::step: return "step";
    case LrSchedule::cosine: return "cosine";
  }
  return "?";
}

std::optional<LrSchedule> parse_lr_schedule(const std::string& s) {
  if (s == "constant") return LrSchedule::constant;
  if (s == "step") return LrSchedule::step;
  if (s == "cosine") return LrSchedule::cosine;
  return std::nullopt;
}

std::string TrainSettings::name(const std::string& flag) const { return option_name(flag, keyword_names); }

TrainOptions make_train_options(const TrainSettings& a, const Spec& spec) {
  auto n = [&](const char* flag) { return a.name(flag); };
  auto schedule = parse_lr_schedule(a.schedule);
  if (!schedule) AE_FAIL(n("lr-schedule"), " ", a.schedule, ": expected one of: constant, step, cosine");
  if (a.batch < 1) AE_FAIL(n("batch"), " must be ≥ 1, got ", a.batch);
  if (a.epochs < 0) AE_FAIL(n("epochs"), " must be ≥ 0, got ", a.epochs);
  if (a.epochs > (int64_t(1) << 32)) AE_FAIL(n("epochs"), " ", a.epochs, " is too large");
  if (a.steps < -1) AE_FAIL(n("steps"), " must be ≥ 0, got ", a.steps);
  if (!std::isnan(a.lr) && !(a.lr > 0 && std::isfinite(a.lr))) AE_FAIL(n("lr"), " must be a positive number, got ", a.lr);
  if (!std::isnan(a.momentum) && !(a.momentum >= 0 && a.momentum < 1)) AE_FAIL(n("momentum"), " must be in [0, 1), got ", a.momentum);
  if (!std::isnan(a.weight_decay) && !(a.weight_decay >= 0 && std::isfinite(a.weight_decay)))
    AE_FAIL(n("weight-decay"), " must be ≥ 0, got ", a.weight_decay);
  if (a.nesterov && !(a.momentum > 0)) AE_FAIL(n("nesterov"), " needs ", n("momentum"), " > 0");
  if (a.log_every < 0) AE_FAIL(n("log-every"), " must be ≥ 0, got ", a.log_every);
  if (a.patience < 0) AE_FAIL(n("patience"), " must be ≥ 0, got ", a.patience);
  if (a.warmup < 0) AE_FAIL(n("warmup"), " must be ≥ 0, got ", a.warmup);
  if (a.lr_step < 1) AE_FAIL(n("lr-step"), " must be ≥ 1, got ", a.lr_step);
  if (!(a.lr_gamma > 0)) AE_FAIL(n("lr-gamma"), " must be > 0, got ", a.lr_gamma);
  if (a.checkpoint_every < 0) AE_FAIL(n("checkpoint-every"), " must be ≥ 0, got ", a.checkpoint_every);
  if (!(a.lr_min >= 0)) AE_FAIL(n("lr-min"), " must be ≥ 0, got ", a.lr_min);
  if (a.optimizer != "sgd" && a.optimizer != "rmsprop" && (!std::isnan(a.momentum) || a.nesterov))
    AE_FAIL(n("momentum"), " and ", n("nesterov"), " apply to sgd and rmsprop, not ", a.optimizer);
  TrainOptions o;
  o.epochs = a.epochs;
  o.steps = a.steps;
  o.batch = a.batch;
  o.shuffle = a.shuffle;
  o.log_every = a.log_every;
  o.opt = cpu::make_opt_config(a.optimizer, a.lr, a.momentum, a.weight_decay, a.nesterov, n("optimizer"));
  o.schedule = *schedule;
  o.warmup = a.warmup;
  o.lr_step = a.lr_step;
  o.lr_gamma = a.lr_gamma;
  o.lr_min = a.lr_min;
  o.patience = a.patience;
  o.keep_best = a.keep_best;
  o.checkpoint_every = a.checkpoint_every;
  // An adversarial autoencoder always has its three groups' optimizers in the run's settings
  // (0 reconstruction, 1 discriminator, 2 the encoder as generator), so that a resume without
  // d_lr/g_lr is compared with (and refused against) a run that gave them.
  if (spec.adversarial.enabled()) o.group_opt.assign(3, o.opt);
  for (const auto& [flag, v, g] : {std::tuple{"d-lr", a.d_lr, 1}, std::tuple{"g-lr", a.g_lr, 2}}) {
    if (std::isnan(v)) continue;
    if (!spec.adversarial.enabled())
      AE_FAIL(n(flag), " is the learning rate of an adversarial autoencoder's ", g == 1 ? "discriminator" : "generator", ", but ",
              spec.to_compact(), " has no discriminator; add one with ",
              a.keyword_names ? "adversarial='DSPEC'" : "--adversarial DSPEC");
    if (!(v > 0 && std::isfinite(v))) AE_FAIL(n(flag), " must be a positive number, got ", v);
    o.group_opt[size_t(g)].lr = v;
  }
  return o;
}

double lr_at(const TrainOptions& o, int64_t s, int64_t total) {
  const double base = o.opt.lr;
  if (s < o.warmup) return base * double(s + 1) / double(o.warmup);
  int64_t t = s - o.warmup, span = std::max<int64_t>(1, total - o.warmup);
  switch (o.schedule) {
    case LrSchedule::constant: return base;
    case LrSchedule::step: return base * std::pow(o.lr_gamma, double(t / std::max<int64_t>(1, o.lr_step)));
    case LrSchedule::cosine: return o.lr_min + (base - o.lr_min) * 0.5 * (1.0 + std::cos(PI * double(t) / double(span)));
  }
  return base;
}

uint64_t data_fingerprint(const DataView& d) {
  uint64_t h = 1469598103934665603ull;
  const auto* p = reinterpret_cast<const unsigned char*>(d.data);
  size_t n = size_t(d.rows * d.cols) * sizeof(float);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h ^ uint64_t(d.rows) * 31 ^ uint64_t(d.cols);
}

std::vector<int64_t> epoch_order(int64_t rows, uint64_t seed, int64_t epoch, bool shuffle) {
  std::vector<int64_t> order(static_cast<size_t>(rows));
  std::iota(order.begin(), order.end(), int64_t(0));
  if (!shuffle) return order;
  // Fisher–Yates driven by Philox keyed by (seed, epoch, shuffle purpose, position): the same
  // order on every backend and thread count, and reproducible from the model's RNG record.
  for (int64_t i = rows - 1; i > 0; --i) {
    uint64_t r = philox_u64(seed, uint64_t(epoch), PhiloxPurpose::shuffle, uint64_t(i));
    int64_t j = int64_t(r % uint64_t(i + 1));
    std::swap(order[size_t(i)], order[size_t(j)]);
  }
  return order;
}

double evaluate(const Model& model, Backend& backend, const DataView& data, int64_t batch, std::vector<float>* per_sample,
                std::optional<Loss> loss) {
  if (per_sample) per_sample->resize(size_t(std::max<int64_t>(data.rows, 0)));
  CompiledModel compiled(model, backend, 1);
  return evaluate(compiled, data, batch, per_sample ? per_sample->data() : nullptr, loss);
}

double evaluate(CompiledModel& compiled, const DataView& data, int64_t batch, float* per_sample, std::optional<Loss> loss,
                std::vector<double>* terms) {
  const Model& model = compiled.model();
  if (terms) terms->clear();
  AE_CHECK(data.cols == model.spec.input, "data has ", data.cols, " features per row but the model's input is ", model.spec.input);
  if (data.rows == 0) return std::numeric_limits<double>::quiet_NaN();
  batch = std::min(batch, data.rows);
  Executor& ex = compiled.executor(GraphMode::eval, batch, loss);
  // A VAE's one-sample negative ELBO draws ε per data row at a step no training step reaches, so
  // the same rows score alike at any batch size and in every epoch.
  ex.set_seed(model.seed);
  const int64_t step = model.spec.variational() ? int64_t(VAE_SCORE_STEP) : 0;
  double total = 0;
  for (int64_t r0 = 0; r0 < data.rows; r0 += batch) {
    int64_t n = std::min(batch, data.rows - r0);
    std::memcpy(ex.input(), data.data + r0 * data.cols, size_t(n * data.cols) * sizeof(float));
    ex.set_row_offset(uint64_t(r0));
    double l = ex.run(n, nullptr, step);
    total += l * double(n);
    if (terms) {
      terms->resize(ex.term_values().size(), 0.0);
      for (size_t t = 0; t < terms->size(); ++t) (*terms)[t] += ex.term_values()[t] * double(n);
    }
    if (per_sample) ex.read(ex.plan().graph.per_sample, per_sample + r0, n);
  }
  if (terms)
    for (double& t : *terms) t /= double(data.rows);
  return total / double(data.rows);
}

double importance_weighted_bound(CompiledModel& compiled, const DataView& data, int64_t batch, int64_t K, float* per_sample,
                                 const std::function<void(int64_t)>& progress) {
  const Model& model = compiled.model();
  AE_CHECK(model.spec.variational(), "the importance-weighted bound needs a VAE; ", model.spec.to_compact(),
           " has no variational code layer");
  AE_CHECK(K >= 1, "the importance-weighted bound needs K ≥ 1 samples, got ", K);
  AE_CHECK(data.cols == model.spec.input, "data has ", data.cols, " features per row but the model's input is ", model.spec.input);
  if (data.rows == 0) return std::numeric_limits<double>::quiet_NaN();
  batch = std::min(batch, data.rows);
  Executor& ex = compiled.executor(GraphMode::eval_iw, batch);
  ex.set_seed(model.seed);
  const size_t rows = static_cast<size_t>(batch);
  std::vector<float> neg_log_w(rows);
  std::vector<double> top(rows), sum(rows);  // per row: max log w so far, Σ exp(log w − max)
  double total = 0;
  for (int64_t r0 = 0; r0 < data.rows; r0 += batch) {
    const int64_t n = std::min(batch, data.rows - r0);
    ex.set_row_offset(uint64_t(r0));
    for (int64_t k = 0; k < K; ++k) {
      // The batch is handed over for every run: a device backend alternates its staging buffers.
      std::memcpy(ex.input(), data.data + r0 * data.cols, size_t(n * data.cols) * sizeof(float));
      ex.run(n, nullptr, int64_t(VAE_SCORE_STEP) + k);
      ex.read(ex.plan().graph.per_sample, neg_log_w.data(), n);
      for (int64_t r = 0; r < n; ++r) {
        const double lw = -double(neg_log_w[size_t(r)]);
        if (k == 0 || lw > top[size_t(r)]) {
          sum[size_t(r)] = k == 0 ? 1.0 : sum[size_t(r)] * std::exp(top[size_t(r)] - lw) + 1.0;
          top[size_t(r)] = lw;
        } else {
          sum[size_t(r)] += std::exp(lw - top[size_t(r)]);
        }
      }
    }
    for (int64_t r = 0; r < n; ++r) {
      const double bound = -(top[size_t(r)] + std::log(sum[size_t(r)]) - std::log(double(K)));
      if (per_sample) per_sample[r0 + r] = float(bound);
      total += bound;
    }
    if (progress) progress(r0 + n);
  }
  return total / double(data.rows);
}

namespace {

// One training run: what it trains on and with, the executors of its phases, where the loop stands.
struct Run {
  Model& model;
  Backend& backend;
  const DataView& tr;
  const DataView* val;
  const TrainOptions& o;
  const TrainCallback& on_event;
  bool has_val = false;
  int64_t batch = 0, steps_per_epoch = 0, total = 0;
  nlohmann::json settings;
  LoopState st;
  std::optional<ParamStore> best;
  std::vector<std::unique_ptr<Executor>> phases;  // one per training phase, run in order each step
  std::unique_ptr<CompiledModel> val_plans;       // validation: one eval executor for the whole run
  std::vector<std::string> terms;                 // every phase's objective terms, in order
  cpu::OptConfig opt;                   // this step's (scheduled) optimizer of every group...
  std::vector<cpu::OptConfig> group_opt;  // ...or of each group (TrainOptions::group_opt)
  TrainResult res;
  Clock::time_point t_start, t_log;
  int64_t rows_since_log = 0;
  std::vector<int64_t> order;
  int64_t order_epoch = -1;
};

void check_options(const Model& model, const DataView& tr, const DataView* val, const TrainOptions& o, bool resume) {
  AE_CHECK(tr.cols == model.spec.input, "training data has ", tr.cols, " features per row but the model's input is ",
           model.spec.input);
  if (val) AE_CHECK(val->cols == model.spec.input, "validation data has ", val->cols, " features per row but the model's input is ", model.spec.input);
  AE_CHECK(tr.rows >= 1, "training data has no rows");
  AE_CHECK(o.batch >= 1, "--batch must be ≥ 1, got ", o.batch);
  AE_CHECK(o.warmup >= 0 && o.lr_step >= 1 && o.lr_gamma > 0 && o.lr_min >= 0, "invalid learning-rate schedule settings");
  if ((o.patience > 0 || o.keep_best) && !(val && val->rows > 0))
    AE_FAIL("--patience and --keep-best need validation data (--val FILE or --val-split f)");
  if (resume && o.checkpoint.empty()) AE_FAIL("--resume needs a checkpoint file (--checkpoint)");
  cpu::validate_opt_config(o.opt);
  for (const auto& g : o.group_opt) cpu::validate_opt_config(g);
}

// fp16: each phase's loss-scaling state as the checkpoint recorded it (absent: fp32/bf16 runs).
void restore_loss_scale(const nlohmann::json& st, ParamStore& params, const std::string& path) {
  const auto it = st.find("loss_scale");
  if (it == st.end()) return;
  AE_CHECK(it->is_array() && it->size() <= size_t(ParamStore::AMP_PHASES), path,
           ": checkpoint field loss_scale must be an array of at most ", ParamStore::AMP_PHASES, " states");
  for (size_t p = 0; p < it->size(); ++p) {
    const auto& j = (*it)[p];
    AE_CHECK(j.is_object() && j.contains("scale") && j["scale"].is_number() && j.contains("growth") &&
                 j["growth"].is_number_integer() && j.contains("skipped") && j["skipped"].is_number_integer(),
             path, ": checkpoint field loss_scale[", p, "] needs a number scale and integer growth and skipped");
    const float scale = j["scale"].get<float>();
    AE_CHECK(std::isfinite(scale) && scale > 0, path, ": checkpoint field loss_scale[", p, "].scale is ", scale,
             "; expected a positive finite number");
    const AmpState a{scale, j["growth"].get<int32_t>(), 0, j["skipped"].get<int32_t>()};
    std::memcpy(params.amp(int(p)), &a, sizeof a);
  }
}

// Fresh optimizer state, or the model, optimizer state, best weights and loop position of the
// checkpoint (refused when it was written with other settings).
void start_or_resume(Run& r, bool resume) {
  int slots = cpu::opt_state_slots(r.o.opt);  // the store holds the most any group's optimizer needs
  for (const auto& g : r.o.group_opt) slots = std::max(slots, cpu::opt_state_slots(g));
  if (!resume) {
    r.model.ensure_state_slots(slots);
    r.model.params.zero_state();
    return;
  }
  Checkpoint ck;
  Model loaded = load_checkpoint(r.o.checkpoint, slots, ck);
  check_same_settings(ck.train_state.value("settings", nlohmann::json::object()), r.settings, r.o.checkpoint);
  r.st = LoopState::from_json(ck.train_state.value("loop", nlohmann::json::object()), r.o.checkpoint);
  loaded.norm = r.model.norm;  // identical by the settings check (same data, same kind)
  loaded.precision = r.model.precision;  // the same as the checkpoint's, by the settings check
  loaded.save_dtype = r.model.save_dtype;  // likewise the model file's dtype (checkpoints are fp32)
  restore_loss_scale(ck.train_state, loaded.params, r.o.checkpoint);
  r.model = std::move(loaded);
  r.best = std::move(ck.best);
  r.res.resumed = true;
  r.res.resumed_at = r.st.run_step;
}

// One executor per training phase, each on its phase's train plan; the names of all their terms.
void build_phases(Run& r) {
  const auto phases = training_phases(r.model.spec);
  for (size_t p = 0; p < phases.size(); ++p) {
    BuildOptions bo;
    bo.mode = GraphMode::train;
    bo.loss = r.model.loss;
    bo.phase = int(p);
    r.phases.push_back(std::make_unique<Executor>(make_plan(build_graph(r.model.spec, bo), GraphMode::train, r.batch, true,
                                                            r.model.precision),
                                                  r.backend,
                                                  r.model.params));
    r.phases.back()->set_seed(r.model.seed);  // the Philox key of per-step draws (noise)
    for (const Term& t : r.phases.back()->plan().graph.terms) r.terms.push_back(t.name);
  }
  if (r.terms.size() > 1 && r.st.term_sums.size() != r.terms.size()) r.st.term_sums.assign(r.terms.size(), 0.0);
}

void write_checkpoint(Run& r) {
  if (r.o.checkpoint.empty()) return;
  Checkpoint ck;
  ck.train_state = {{"settings", r.settings}, {"loop", r.st.to_json()}};
  if (r.model.precision == DType::f16) {  // each phase's loss scale, so a resume continues it exactly
    nlohmann::json amp = nlohmann::json::array();
    for (size_t p = 0; p < r.phases.size(); ++p) {
      AmpState a{};
      std::memcpy(&a, r.model.params.amp(int(p)), sizeof a);
      amp.push_back({{"scale", a.scale}, {"growth", a.growth}, {"skipped", a.skipped}});
    }
    ck.train_state["loss_scale"] = amp;
  }
  if (r.best) {
    ck.best.emplace(ParamStore::infos_for(r.model.spec), 0);
    copy_values(*r.best, *ck.best);
  }
  save_checkpoint(r.o.checkpoint, r.model, ck);
}

// Gathers the minibatch at (epoch, step in epoch) into every phase's input and hands it over; its rows.
int64_t stage(Run& r, int64_t epoch, int64_t step_in_epoch) {
  if (r.order_epoch != epoch) {
    r.order = epoch_order(r.tr.rows, r.model.seed, epoch, r.o.shuffle);
    r.order_epoch = epoch;
  }
  const int64_t r0 = step_in_epoch * r.batch, n = std::min(r.batch, r.tr.rows - r0);
  // Gathered once; every later phase gets a copy of the same rows.
  gather_rows(r.tr, r.order.data() + r0, n, r.phases[0]->input());
  for (size_t p = 1; p < r.phases.size(); ++p)
    std::memcpy(r.phases[p]->input(), r.phases[0]->input(), size_t(n * r.tr.cols) * sizeof(float));
  for (auto& ex : r.phases) ex->submit_input(n);
  return n;
}

// Step s (0-based) of n rows through every phase; returns the first phase's objective, the model's
// own (an adversarial autoencoder's reconstruction: what validation measures too). Every phase's
// terms go to the log's per-term sums, and a phase that diverges stops the run.
// On a device with one phase the next minibatch is gathered into the other pinned buffer and
// uploaded while this step computes (on the host the step has run by then); with several phases,
// each phase's device parameters are handed to the next through the ParamStore.
double run_phases(Run& r, int64_t s, int64_t n, int64_t& staged) {
  const bool prefetch = r.phases.size() == 1 && r.phases[0]->on_device();
  double objective = 0, all = 0;
  size_t term = 0;
  for (size_t p = 0; p < r.phases.size(); ++p) {
    Executor& ex = *r.phases[p];
    if (p > 0 && ex.on_device()) ex.sync_params_to_device();
    if (r.group_opt.empty()) ex.launch(n, &r.opt, s + 1);
    else ex.launch(n, r.group_opt, s + 1);
    if (prefetch && s + 1 < r.total) {
      const bool next_epoch = r.st.step_in_epoch + 1 == r.steps_per_epoch;
      staged = stage(r, next_epoch ? r.model.epoch + 1 : r.model.epoch, next_epoch ? 0 : r.st.step_in_epoch + 1);
    }
    const double phase_objective = ex.finish();
    if (p == 0) objective = phase_objective;
    all += phase_objective;
    if (r.phases.size() > 1 && ex.on_device()) ex.sync_params_to_host();
    for (double v : ex.term_values())
      if (!r.st.term_sums.empty()) r.st.term_sums[term++] += v * double(n);
  }
  if (!std::isfinite(all)) {
    std::string terms;  // which phase went: each term's last value
    for (size_t p = 0, t = 0; p < r.phases.size(); ++p)
      for (double v : r.phases[p]->term_values()) terms += (terms.empty() ? "" : ", ") + r.terms[t++] + " " + std::to_string(v);
    AE_FAIL("training diverged at step ", s + 1, ": the loss is ", all, r.phases.size() > 1 ? " (" + terms + ")" : std::string(),
            r.phases.size() > 1 ? "; lower the rate of the phase whose terms diverged (--lr, --d-lr or --g-lr)" : "; lower --lr");
  }
  return objective;
}

// End-of-epoch validation, early stopping and keep-best, recorded in ev.
void validate(Run& r, TrainEvent& ev) {
  r.phases.back()->sync_params_to_host();  // evaluate() and keep-best read the ParamStore
  if (r.has_val) ev.val_loss = evaluate(*r.val_plans, *r.val, r.o.eval_batch);
  if (!(ev.epoch_end && r.has_val)) return;
  LoopState& st = r.st;
  if (ev.val_loss < st.best_val) {
    st.best_val = ev.val_loss;
    st.best_step = r.model.step;
    st.bad_epochs = 0;
    ev.improved = true;
    if (r.o.keep_best) {
      if (!r.best) r.best.emplace(ParamStore::infos_for(r.model.spec), 0);
      copy_values(r.model.params, *r.best);
    }
  } else if (r.o.patience > 0 && ++st.bad_epochs >= r.o.patience) {
    ev.stopping = true;
    st.stopped_early = true;
    st.finished = true;
  }
}

// A log event: the means since the last one go to the event, the result and the model's history.
void record(Run& r, TrainEvent& ev) {
  LoopState& st = r.st;
  ev.kind = TrainEvent::log;
  r.res.final_train_loss = ev.train_loss;
  r.res.final_val_loss = ev.val_loss;
  nlohmann::json h = {{"step", r.model.step}, {"epoch", r.model.epoch}, {"train_loss", ev.train_loss},
                      {"val_loss", std::isfinite(ev.val_loss) ? nlohmann::json(ev.val_loss) : nlohmann::json()},
                      {"lr", ev.lr}};  // no timings: identical runs give identical files
  if (r.model.precision == DType::f16) {  // validate() synced the device's loss-scaling states down
    AmpState a{};
    std::memcpy(&a, r.model.params.amp(0), sizeof a);
    ev.loss_scale = a.scale;  // the first phase's: the model's own objective
    ev.skipped_steps = 0;
    for (size_t p = 0; p < r.phases.size(); ++p) {  // every phase's skips (an adversarial step has three)
      std::memcpy(&a, r.model.params.amp(int(p)), sizeof a);
      ev.skipped_steps += a.skipped;
    }
    h["skipped_steps"] = ev.skipped_steps;
    h["loss_scale"] = ev.loss_scale;
  }
  if (!st.term_sums.empty()) {
    nlohmann::json terms = nlohmann::json::object();
    for (size_t t = 0; t < r.terms.size(); ++t) {
      const double mean = st.term_sums[t] / double(std::max<int64_t>(1, st.loss_rows));
      ev.terms.emplace_back(r.terms[t], mean);
      terms[r.terms[t]] = mean;
      st.term_sums[t] = 0;
    }
    h["terms"] = terms;  // only with more than one term: single-term histories are as before
  }
  r.model.history.push_back(h);
  st.loss_sum = 0;
  st.loss_rows = 0;
}

// The bookkeeping after step s of n rows with objective l: epochs, logging, validation, events
// and checkpoints.
void after_step(Run& r, int64_t s, int64_t n, double l) {
  LoopState& st = r.st;
  st.loss_sum += l * double(n);
  st.loss_rows += n;
  st.run_step = s + 1;
  r.res.samples += n;
  r.rows_since_log += n;
  ++r.model.step;
  const bool epoch_end = ++st.step_in_epoch == r.steps_per_epoch;
  if (epoch_end) {
    st.step_in_epoch = 0;
    ++r.model.epoch;
  }
  const bool last = s + 1 == r.total;
  const bool log = r.o.log_every > 0 ? ((s + 1) % r.o.log_every == 0 || last) : (epoch_end || last);
  TrainEvent ev;
  ev.step = s + 1;
  ev.total_steps = r.total;
  ev.epoch = r.model.epoch;
  ev.train_loss = st.loss_sum / double(std::max<int64_t>(1, st.loss_rows));
  ev.epoch_end = epoch_end;
  ev.lr = r.opt.lr;
  const bool timed = log || (epoch_end && r.has_val);
  if (timed) {
    const double secs = std::chrono::duration<double>(Clock::now() - r.t_log).count();
    r.res.train_seconds += secs;
    ev.samples_per_s = secs > 0 ? double(r.rows_since_log) / secs : 0;
    validate(r, ev);
  }
  if (log || ev.stopping) record(r, ev);
  if (timed) {
    r.rows_since_log = 0;
    r.t_log = Clock::now();
  }
  if (r.on_event) r.on_event(ev);
  if (last) st.finished = true;
  // Asked after the event, so a stop requested by this step's callback ends the run here. The
  // interval since the last log is logged (with the validation loss), as at an epoch's end; the
  // loop state is not marked finished, so a checkpoint never records an interrupted run as complete.
  if (!last && r.o.stop && r.o.stop()) {
    if (!log) {
      TrainEvent stop_ev = ev;
      const double secs = std::chrono::duration<double>(Clock::now() - r.t_log).count();
      r.res.train_seconds += secs;
      stop_ev.samples_per_s = secs > 0 ? double(r.rows_since_log) / secs : 0;
      stop_ev.epoch_end = false;
      validate(r, stop_ev);
      record(r, stop_ev);
      if (r.on_event) r.on_event(stop_ev);
    }
    r.res.interrupted = true;
    return;
  }
  if (epoch_end || st.finished || (r.o.checkpoint_every > 0 && (s + 1) % r.o.checkpoint_every == 0)) {
    r.phases.back()->sync_params_to_host();  // the last phase to run holds every update
    write_checkpoint(r);
  }
}

TrainResult finish(Run& r) {
  r.phases.back()->sync_params_to_host();
  LoopState& st = r.st;
  if (st.run_step >= r.total) st.finished = true;
  if (r.o.keep_best && r.best) copy_values(*r.best, r.model.params);
  r.res.steps = st.run_step;
  r.res.stopped_early = st.stopped_early;
  r.res.best_step = st.best_step;
  if (std::isfinite(st.best_val)) r.res.best_val_loss = st.best_val;
  r.res.seconds = std::chrono::duration<double>(Clock::now() - r.t_start).count();
  const TrainOptions& o = r.o;
  r.model.optimizer = {{"name", cpu::opt_name(o.opt.kind)}, {"lr", o.opt.lr}, {"momentum", o.opt.momentum},
                       {"nesterov", o.opt.nesterov}, {"weight_decay", o.opt.weight_decay}, {"beta1", o.opt.beta1},
                       {"beta2", o.opt.beta2}, {"eps", o.opt.eps}, {"alpha", o.opt.alpha}, {"batch", r.batch},
                       {"schedule", lr_schedule_name(o.schedule)}, {"warmup", o.warmup}};
  if (!o.group_opt.empty()) {  // each group's own (absent otherwise: files are as before)
    r.model.optimizer["groups"] = nlohmann::json::array();
    for (const auto& g : o.group_opt) r.model.optimizer["groups"].push_back({{"name", cpu::opt_name(g.kind)}, {"lr", g.lr}});
  }
  return r.res;
}

}  // namespace

TrainResult train(Model& model, Backend& backend, const DataView& tr, const DataView* val, const TrainOptions& o,
                  const TrainCallback& on_event, bool resume) {
  check_options(model, tr, val, o, resume);
  // Salt-and-pepper values and the gaussian clip are the training data's range (as the network
  // sees it, after normalisation), recorded in the spec at the first training: a resumed or
  // continued run corrupts alike, and the model file says what the noise was.
  Noise& noise = model.spec.noise;
  if (noise.needs_range() && !noise.has_range && tr.rows > 0) {
    const auto [lo, hi] = std::minmax_element(tr.data, tr.data + tr.rows * tr.cols);
    noise.has_range = true;
    noise.lo = *lo;
    noise.hi = *hi;
  }
  Run r{model, backend, tr, val, o, on_event};
  r.has_val = val && val->rows > 0;
  r.batch = std::min(o.batch, tr.rows);
  r.steps_per_epoch = (tr.rows + r.batch - 1) / r.batch;
  r.total = o.steps >= 0 ? o.steps : o.epochs * r.steps_per_epoch;
  AE_CHECK(r.total >= 0, "--epochs must be ≥ 0");
  r.settings = run_settings(model, tr, val, o, r.batch, r.total, backend.name());
  start_or_resume(r, resume);
  build_phases(r);
  r.val_plans = std::make_unique<CompiledModel>(model, backend, 1);
  r.opt = o.opt;
  r.group_opt = o.group_opt;
  r.t_start = r.t_log = Clock::now();
  int64_t staged = -1;  // rows already staged for the next step, or -1
  for (int64_t s = r.st.run_step; s < r.total && !r.st.finished && !r.res.interrupted; ++s) {
    const int64_t n = staged >= 0 ? staged : stage(r, r.model.epoch, r.st.step_in_epoch);
    staged = -1;
    r.opt.lr = lr_at(o, s, r.total);
    for (size_t g = 0; g < r.group_opt.size(); ++g) r.group_opt[g].lr = o.group_opt[g].lr * (r.opt.lr / o.opt.lr);
    after_step(r, s, n, run_phases(r, s, n, staged));
  }
  return finish(r);
}

}  // namespace ae
