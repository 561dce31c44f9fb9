// Training loop and evaluation.
#include "runtime/trainer.h"

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

void gather_rows(const DataView& d, const int64_t* rows, int64_t n, float* out) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(out + i * d.cols, d.data + rows[i] * d.cols, size_t(d.cols) * sizeof(float));
}

Plan plan_for(const Model& m, GraphMode mode, int64_t batch, std::optional<Loss> loss = std::nullopt) {
  BuildOptions bo;
  bo.mode = mode;
  bo.loss = loss.value_or(m.loss);
  return make_plan(build_graph(m.spec, bo), mode, batch);
}

}  // namespace

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
  if (data.rows == 0) return std::numeric_limits<double>::quiet_NaN();
  batch = std::min(batch, data.rows);
  Model& m = const_cast<Model&>(model);  // eval plans read params only
  Executor ex(plan_for(model, GraphMode::eval, batch, loss), backend, m.params);
  if (per_sample) per_sample->resize(size_t(data.rows));
  double total = 0;
  for (int64_t r0 = 0; r0 < data.rows; r0 += batch) {
    int64_t n = std::min(batch, data.rows - r0);
    std::memcpy(ex.input(), data.data + r0 * data.cols, size_t(n * data.cols) * sizeof(float));
    double l = ex.run(n);
    total += l * double(n);
    if (per_sample) std::memcpy(per_sample->data() + r0, ex.data(ex.plan().graph.per_sample), size_t(n) * sizeof(float));
  }
  return total / double(data.rows);
}

TrainResult train(Model& model, Backend& backend, const DataView& tr, const DataView* val, const TrainOptions& o,
                  const TrainCallback& on_event) {
  AE_CHECK(tr.cols == model.spec.input, "training data has ", tr.cols, " features per row but the model's input is ",
           model.spec.input);
  if (val) AE_CHECK(val->cols == model.spec.input, "validation data has ", val->cols, " features per row but the model's input is ", model.spec.input);
  AE_CHECK(tr.rows >= 1, "training data has no rows");
  AE_CHECK(o.batch >= 1, "--batch must be ≥ 1, got ", o.batch);
  cpu::validate_opt_config(o.opt);
  const int64_t batch = std::min(o.batch, tr.rows);
  const int64_t steps_per_epoch = (tr.rows + batch - 1) / batch;
  const int64_t total = o.steps >= 0 ? o.steps : o.epochs * steps_per_epoch;
  AE_CHECK(total >= 0, "--epochs must be ≥ 0");

  model.ensure_state_slots(cpu::opt_state_slots(o.opt));
  model.params.zero_state();
  Executor ex(plan_for(model, GraphMode::train, batch), backend, model.params);

  TrainResult res;
  auto t_start = Clock::now(), t_log = t_start;
  double loss_sum = 0;
  int64_t loss_rows = 0, step_in_epoch = 0;
  std::vector<int64_t> order;
  for (int64_t s = 0; s < total; ++s) {
    if (step_in_epoch == 0) order = epoch_order(tr.rows, model.seed, model.epoch, o.shuffle);
    int64_t r0 = step_in_epoch * batch, n = std::min(batch, tr.rows - r0);
    gather_rows(tr, order.data() + r0, n, ex.input());
    double l = ex.run(n, &o.opt, s + 1);
    if (!std::isfinite(l)) AE_FAIL("training diverged at step ", s + 1, ": the loss is ", l, "; lower --lr");
    loss_sum += l * double(n);
    loss_rows += n;
    ++model.step;
    bool epoch_end = ++step_in_epoch == steps_per_epoch;
    if (epoch_end) {
      step_in_epoch = 0;
      ++model.epoch;
    }
    TrainEvent ev;
    ev.step = s + 1;
    ev.total_steps = total;
    ev.epoch = model.epoch;
    ev.train_loss = loss_sum / double(loss_rows);
    ev.epoch_end = epoch_end;
    bool log = o.log_every > 0 ? ((s + 1) % o.log_every == 0 || s + 1 == total) : (epoch_end || s + 1 == total);
    if (log) {
      double secs = std::chrono::duration<double>(Clock::now() - t_log).count();
      ev.kind = TrainEvent::log;
      ev.samples_per_s = secs > 0 ? double(loss_rows) / secs : 0;
      if (val && val->rows > 0) ev.val_loss = evaluate(model, backend, *val, o.eval_batch);
      res.final_train_loss = ev.train_loss;
      res.final_val_loss = ev.val_loss;
      model.history.push_back({{"step", model.step}, {"epoch", model.epoch}, {"train_loss", ev.train_loss},
                               {"val_loss", std::isfinite(ev.val_loss) ? nlohmann::json(ev.val_loss) : nlohmann::json()},
                               {"samples_per_s", ev.samples_per_s}});
      loss_sum = 0;
      loss_rows = 0;
      if (on_event) on_event(ev);
      t_log = Clock::now();
    } else if (on_event) {
      on_event(ev);
    }
  }
  res.steps = total;
  res.seconds = std::chrono::duration<double>(Clock::now() - t_start).count();
  model.optimizer = {{"name", cpu::opt_name(o.opt.kind)}, {"lr", o.opt.lr}, {"momentum", o.opt.momentum},
                     {"nesterov", o.opt.nesterov}, {"weight_decay", o.opt.weight_decay}, {"beta1", o.opt.beta1},
                     {"beta2", o.opt.beta2}, {"eps", o.opt.eps}, {"alpha", o.opt.alpha}, {"batch", batch}};
  return res;
}

}  // namespace ae
