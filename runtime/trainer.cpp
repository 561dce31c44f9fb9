// Training loop, schedules, early stopping, checkpoints and evaluation.
#include "runtime/trainer.h"

#include <omp.h>

#include <chrono>
#include <cstring>
#include <numeric>

#include "graph/build.h"
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

Plan plan_for(const Model& m, GraphMode mode, int64_t batch, std::optional<Loss> loss = std::nullopt) {
  return make_plan(m.spec, mode, loss.value_or(m.loss), batch);
}

void copy_values(const ParamStore& from, ParamStore& to) {
  for (size_t i = 0; i < from.count(); ++i)
    std::memcpy(to.value(i), from.value(i), size_t(from.info(i).size()) * sizeof(float));
}

// Everything that must be equal for a checkpoint to continue this run.
nlohmann::json run_settings(const Model& m, const DataView& tr, const DataView* val, const TrainOptions& o, int64_t batch,
                            int64_t total, const std::string& device_name) {
  nlohmann::json j = {
      {"spec", m.spec.to_compact()}, {"loss", loss_name(m.loss)}, {"batch", batch}, {"total_steps", total},
      {"optimizer", cpu::opt_name(o.opt.kind)}, {"lr", o.opt.lr}, {"momentum", o.opt.momentum},
      {"dampening", o.opt.dampening}, {"nesterov", o.opt.nesterov}, {"weight_decay", o.opt.weight_decay},
      {"betas", {o.opt.beta1, o.opt.beta2}}, {"eps", o.opt.eps}, {"alpha", o.opt.alpha}, {"centered", o.opt.centered},
      {"schedule", lr_schedule_name(o.schedule)}, {"warmup", o.warmup}, {"lr_step", o.lr_step}, {"lr_gamma", o.lr_gamma},
      {"lr_min", o.lr_min}, {"seed", m.seed}, {"shuffle", o.shuffle}, {"patience", o.patience}, {"keep_best", o.keep_best},
      {"data", {{"rows", tr.rows}, {"cols", tr.cols}, {"fingerprint", std::to_string(data_fingerprint(tr))}}},
      {"normalization", norm_kind_name(m.norm.kind)},
      // bitwise reproducibility holds per backend and thread count
      {"device", device_name}, {"threads", omp_get_max_threads()}};
  if (val) j["val"] = {{"rows", val->rows}, {"fingerprint", std::to_string(data_fingerprint(*val))}};
  return j;
}

struct LoopState {
  int64_t run_step = 0, step_in_epoch = 0, bad_epochs = 0, best_step = -1, loss_rows = 0;
  double loss_sum = 0, best_val = std::numeric_limits<double>::infinity();
  bool finished = false, stopped_early = false;

  nlohmann::json to_json() const {
    return {{"run_step", run_step}, {"step_in_epoch", step_in_epoch}, {"bad_epochs", bad_epochs}, {"best_step", best_step},
            {"loss_rows", loss_rows}, {"loss_sum", loss_sum},
            {"best_val", std::isfinite(best_val) ? nlohmann::json(best_val) : nlohmann::json()},
            {"finished", finished}, {"stopped_early", stopped_early}};
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
  for (const auto& key : keys) {
    if (!now.contains(key)) continue;
    if (!saved.contains(key) || saved[key] != now[key])
      AE_FAIL(path, ": checkpoint was written by a run with different settings: ", key, " was ",
              saved.contains(key) ? saved[key].dump() : "absent", ", now ", now[key].dump(),
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
  AE_CHECK(data.cols == model.spec.input, "data has ", data.cols, " features per row but the model's input is ", model.spec.input);
  if (per_sample) per_sample->resize(size_t(data.rows));
  if (data.rows == 0) return std::numeric_limits<double>::quiet_NaN();
  batch = std::min(batch, data.rows);
  Model& m = const_cast<Model&>(model);  // eval plans read params only
  Executor ex(plan_for(model, GraphMode::eval, batch, loss), backend, m.params);
  double total = 0;
  for (int64_t r0 = 0; r0 < data.rows; r0 += batch) {
    int64_t n = std::min(batch, data.rows - r0);
    std::memcpy(ex.input(), data.data + r0 * data.cols, size_t(n * data.cols) * sizeof(float));
    double l = ex.run(n);
    total += l * double(n);
    if (per_sample) ex.read(ex.plan().graph.per_sample, per_sample->data() + r0, n);
  }
  return total / double(data.rows);
}

TrainResult train(Model& model, Backend& backend, const DataView& tr, const DataView* val, const TrainOptions& o,
                  const TrainCallback& on_event, bool resume) {
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
  const bool has_val = val && val->rows > 0;
  const int64_t batch = std::min(o.batch, tr.rows);
  const int64_t steps_per_epoch = (tr.rows + batch - 1) / batch;
  const int64_t total = o.steps >= 0 ? o.steps : o.epochs * steps_per_epoch;
  AE_CHECK(total >= 0, "--epochs must be ≥ 0");
  const int slots = cpu::opt_state_slots(o.opt);
  const nlohmann::json settings = run_settings(model, tr, val, o, batch, total, backend.name());

  TrainResult res;
  LoopState st;
  std::optional<ParamStore> best;
  if (resume) {
    Checkpoint ck;
    Model loaded = load_checkpoint(o.checkpoint, slots, ck);
    check_same_settings(ck.train_state.value("settings", nlohmann::json::object()), settings, o.checkpoint);
    st = LoopState::from_json(ck.train_state.value("loop", nlohmann::json::object()), o.checkpoint);
    loaded.norm = model.norm;  // identical by the settings check (same data, same kind)
    model = std::move(loaded);
    best = std::move(ck.best);
    res.resumed = true;
    res.resumed_at = st.run_step;
  } else {
    model.ensure_state_slots(slots);
    model.params.zero_state();
  }
  auto write_checkpoint = [&] {
    if (o.checkpoint.empty()) return;
    Checkpoint ck;
    ck.train_state = {{"settings", settings}, {"loop", st.to_json()}};
    if (best) {
      ck.best.emplace(ParamStore::infos_for(model.spec), 0);
      copy_values(*best, *ck.best);
    }
    save_checkpoint(o.checkpoint, model, ck);
  };

  Executor ex(plan_for(model, GraphMode::train, batch), backend, model.params);
  cpu::OptConfig opt = o.opt;
  auto t_start = Clock::now(), t_log = t_start;
  int64_t rows_since_log = 0;
  std::vector<int64_t> order;
  int64_t order_epoch = -1;
  // Gathers the minibatch at (epoch, step in epoch) into ex.input() and hands it over; its rows.
  auto stage = [&](int64_t epoch, int64_t step_in_epoch) {
    if (order_epoch != epoch) {
      order = epoch_order(tr.rows, model.seed, epoch, o.shuffle);
      order_epoch = epoch;
    }
    int64_t r0 = step_in_epoch * batch, n = std::min(batch, tr.rows - r0);
    gather_rows(tr, order.data() + r0, n, ex.input());
    ex.submit_input(n);
    return n;
  };
  // On a device the next minibatch is gathered into the other pinned buffer and uploaded on the
  // copy stream while this step computes; on the host the step has run by then, so stage after.
  const bool prefetch = ex.on_device();
  int64_t staged = -1;  // rows already staged for step s, or -1
  for (int64_t s = st.run_step; s < total && !st.finished; ++s) {
    int64_t n = staged >= 0 ? staged : stage(model.epoch, st.step_in_epoch);
    staged = -1;
    opt.lr = lr_at(o, s, total);
    ex.launch(n, &opt, s + 1);
    if (prefetch && s + 1 < total) {
      bool next_epoch = st.step_in_epoch + 1 == steps_per_epoch;
      staged = stage(next_epoch ? model.epoch + 1 : model.epoch, next_epoch ? 0 : st.step_in_epoch + 1);
    }
    double l = ex.finish();
    if (!std::isfinite(l)) AE_FAIL("training diverged at step ", s + 1, ": the loss is ", l, "; lower --lr");
    st.loss_sum += l * double(n);
    st.loss_rows += n;
    st.run_step = s + 1;
    res.samples += n;
    rows_since_log += n;
    ++model.step;
    bool epoch_end = ++st.step_in_epoch == steps_per_epoch;
    if (epoch_end) {
      st.step_in_epoch = 0;
      ++model.epoch;
    }
    bool last = s + 1 == total;
    bool log = o.log_every > 0 ? ((s + 1) % o.log_every == 0 || last) : (epoch_end || last);
    TrainEvent ev;
    ev.step = s + 1;
    ev.total_steps = total;
    ev.epoch = model.epoch;
    ev.train_loss = st.loss_sum / double(std::max<int64_t>(1, st.loss_rows));
    ev.epoch_end = epoch_end;
    ev.lr = opt.lr;
    if (log || (epoch_end && has_val)) {
      auto t_eval = Clock::now();
      double secs = std::chrono::duration<double>(t_eval - t_log).count();
      res.train_seconds += secs;
      ev.samples_per_s = secs > 0 ? double(rows_since_log) / secs : 0;
      ex.sync_params_to_host();  // evaluate() and keep-best read the ParamStore
      if (has_val) ev.val_loss = evaluate(model, backend, *val, o.eval_batch);
      if (epoch_end && has_val) {
        if (ev.val_loss < st.best_val) {
          st.best_val = ev.val_loss;
          st.best_step = model.step;
          st.bad_epochs = 0;
          ev.improved = true;
          if (o.keep_best) {
            if (!best) best.emplace(ParamStore::infos_for(model.spec), 0);
            copy_values(model.params, *best);
          }
        } else if (o.patience > 0 && ++st.bad_epochs >= o.patience) {
          ev.stopping = true;
          st.stopped_early = true;
          st.finished = true;
        }
      }
    }
    if (log || ev.stopping) {
      ev.kind = TrainEvent::log;
      res.final_train_loss = ev.train_loss;
      res.final_val_loss = ev.val_loss;
      model.history.push_back({{"step", model.step}, {"epoch", model.epoch}, {"train_loss", ev.train_loss},
                               {"val_loss", std::isfinite(ev.val_loss) ? nlohmann::json(ev.val_loss) : nlohmann::json()},
                               {"lr", ev.lr}});  // no timings: identical runs give identical files
      st.loss_sum = 0;
      st.loss_rows = 0;
    }
    if (log || (epoch_end && has_val)) {
      rows_since_log = 0;
      t_log = Clock::now();
    }
    if (on_event) on_event(ev);
    if (last) st.finished = true;
    if (epoch_end || st.finished || (o.checkpoint_every > 0 && (s + 1) % o.checkpoint_every == 0)) {
      ex.sync_params_to_host();
      write_checkpoint();
    }
  }
  ex.sync_params_to_host();
  if (st.run_step >= total) st.finished = true;
  if (o.keep_best && best) copy_values(*best, model.params);
  res.steps = st.run_step;
  res.stopped_early = st.stopped_early;
  res.best_step = st.best_step;
  if (std::isfinite(st.best_val)) res.best_val_loss = st.best_val;
  res.seconds = std::chrono::duration<double>(Clock::now() - t_start).count();
  model.optimizer = {{"name", cpu::opt_name(o.opt.kind)}, {"lr", o.opt.lr}, {"momentum", o.opt.momentum},
                     {"nesterov", o.opt.nesterov}, {"weight_decay", o.opt.weight_decay}, {"beta1", o.opt.beta1},
                     {"beta2", o.opt.beta2}, {"eps", o.opt.eps}, {"alpha", o.opt.alpha}, {"batch", batch},
                     {"schedule", lr_schedule_name(o.schedule)}, {"warmup", o.warmup}};
  return res;
}

}  // namespace ae
