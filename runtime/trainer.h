// The training loop: seeded shuffling, minibatches gathered into the train plan's input, one
// fused forward/backward/optimizer plan per step, validation with an eval plan, and events for
// the host to turn into progress bars and JSON logs. Nothing here prints.
#pragma once

#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "kernels/cpu/optimizer.h"
#include "runtime/backend.h"
#include "runtime/model.h"

namespace ae {

struct DataView {
  const float* data = nullptr;  // [rows, cols]
  int64_t rows = 0, cols = 0;
};

struct TrainOptions {
  int64_t epochs = 10;
  int64_t steps = -1;           // exact number of optimizer steps; overrides epochs when ≥ 0
  int64_t batch = 256;
  cpu::OptConfig opt = cpu::default_opt_config(cpu::OptKind::adam);
  bool shuffle = true;
  int64_t log_every = 0;        // 0: one log event per epoch; N: every N steps (and at the end)
  int64_t eval_batch = 1024;
};

struct TrainEvent {
  enum Kind { step_done, log } kind = step_done;
  int64_t step = 0, total_steps = 0;   // optimizer steps taken in this run / planned
  int64_t epoch = 0;                   // epochs completed (fractional progress via step)
  double train_loss = 0;               // mean over the samples since the previous log event
  double val_loss = std::numeric_limits<double>::quiet_NaN();
  double samples_per_s = 0;            // training throughput since the previous log event
  bool epoch_end = false;
};
using TrainCallback = std::function<void(const TrainEvent&)>;

struct TrainResult {
  int64_t steps = 0;
  double final_train_loss = 0;
  double final_val_loss = std::numeric_limits<double>::quiet_NaN();
  double seconds = 0;
};

TrainResult train(Model& model, Backend& backend, const DataView& train, const DataView* val, const TrainOptions& opt,
                  const TrainCallback& on_event);

// Mean loss of the model over `data` (the model's loss), and per-sample errors when asked.
// `loss` overrides the model's (e.g. to report MSE per feature of a model trained with bce).
double evaluate(const Model& model, Backend& backend, const DataView& data, int64_t batch,
                std::vector<float>* per_sample = nullptr, std::optional<Loss> loss = std::nullopt);

// Rows of `data` in the order epoch `epoch` visits them (identity when !shuffle).
std::vector<int64_t> epoch_order(int64_t rows, uint64_t seed, int64_t epoch, bool shuffle);

}  // namespace ae
