// `ae bench`: training and encode throughput of one model on one backend: samples per second,
// the median of several timed loops after warm-up. Peers (PyTorch) are measured side by side
// by bench/peers/compare.py, which runs this command and the peer in the same session.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "graph/build.h"
#include "host/cli/cli.h"
#include "kernels/common/error.h"
#include "kernels/common/philox.h"
#include "kernels/cpu/gemm.h"
#include "runtime/executor.h"
#include "runtime/model.h"

namespace ae::cli {

namespace {
struct BenchArgs {
  std::string spec = DEFAULT_SPEC, loss = "mse", optimizer = "adam", device = "cpu";
  int64_t batch = 256, steps = 50, warmup = 10, runs = 7;
  int threads = 0;
  bool json = false;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Samples/s of `runs` timed loops of `steps` executions each, after `warmup` executions.
std::vector<double> time_loops(Executor& ex, const BenchArgs& a, const cpu::OptConfig* opt) {
  int64_t step = 0;
  for (int64_t i = 0; i < a.warmup; ++i) ex.run(a.batch, opt, ++step);
  std::vector<double> rates;
  for (int64_t r = 0; r < a.runs; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < a.steps; ++i) ex.run(a.batch, opt, ++step);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rates.push_back(double(a.steps * a.batch) / s);
  }
  return rates;
}

void run_bench(const BenchArgs& a) {
  if (a.batch < 1 || a.steps < 1 || a.runs < 1 || a.warmup < 0) AE_FAIL("--batch, --steps and --runs must be ≥ 1, --warmup ≥ 0");
  int threads = apply_threads(a.threads);
  auto loss = parse_loss_name(a.loss);
  if (!loss) AE_FAIL("--loss ", a.loss, ": unknown loss; expected one of: ", loss_names_list());
  auto kind = cpu::parse_opt_name(a.optimizer);
  if (!kind) AE_FAIL("--optimizer ", a.optimizer, ": unknown optimizer; expected one of: ", cpu::opt_names_list());
  auto backend = make_backend(a.device);  // --device cuda without a GPU: a one-line error, exit 1
  if (backend->name() == "cuda-sim")
    AE_FAIL("--device cuda-sim: runtime/sim executes CUDA kernels on the CPU for correctness; its timings say nothing "
            "about a GPU and ae bench does not report them (ae plan --device cuda prints the analytic GPU estimates)");
  Model model = Model::create(parse_spec(a.spec), 1, *loss);
  cpu::OptConfig opt = cpu::default_opt_config(*kind);
  model.ensure_state_slots(cpu::opt_state_slots(opt));

  auto make = [&](GraphMode mode) {
    BuildOptions bo;
    bo.mode = mode;
    bo.loss = *loss;
    return std::make_unique<Executor>(make_plan(build_graph(model.spec, bo), mode, a.batch), *backend, model.params);
  };
  auto train_ex = make(GraphMode::train);
  auto encode_ex = make(GraphMode::encode);
  // Inputs in [0,1) from Philox: the same bits every run, like pixels.
  // On a device both pinned staging buffers (they alternate between runs) get the same inputs.
  for (Executor* ex : {train_ex.get(), encode_ex.get()}) {
    for (int buf = 0; buf < (ex->on_device() ? 2 : 1); ++buf) {
      float* x = ex->input();
      for (int64_t i = 0; i < a.batch * model.spec.input; ++i) x[i] = philox_uniform(7, 0, PhiloxPurpose::data, uint64_t(i));
      if (ex->on_device() && buf == 0) ex->run(a.batch, ex == train_ex.get() ? &opt : nullptr, 1);
    }
  }
  auto train_rates = time_loops(*train_ex, a, &opt);
  auto encode_rates = time_loops(*encode_ex, a, nullptr);
  double flops = train_ex->plan().total_flops() / double(a.batch);
  double tr = median(train_rates), en = median(encode_rates);
  if (a.json) {
    nlohmann::json j = {{"engine", "ae"}, {"spec", model.spec.to_compact()}, {"batch", a.batch}, {"threads", threads},
                        {"loss", loss_name(*loss)}, {"optimizer", cpu::opt_name(opt.kind)}, {"device", backend->name()},
                        {"backend", backend->description()}, {"train_samples_per_s", tr}, {"encode_samples_per_s", en},
                        {"train_runs", train_rates}, {"encode_runs", encode_rates}, {"train_flops_per_sample", flops},
                        {"train_gflops", tr * flops / 1e9}, {"steps", a.steps}, {"runs", a.runs}, {"warmup", a.warmup}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("ae bench: %s, batch %lld, %s, %s, %d threads\n  backend: %s\n", model.spec.to_compact().c_str(), (long long)a.batch,
                loss_name(*loss), cpu::opt_name(opt.kind), threads, backend->description().c_str());
    std::printf("  train : %10.0f samples/s  (median of %lld runs of %lld steps; %.1f GFLOP/s)\n", tr, (long long)a.runs,
                (long long)a.steps, tr * flops / 1e9);
    std::printf("  encode: %10.0f samples/s\n", en);
  }
  if (Device* d = backend->device()) {
    // Whole-step throughput only: per-kernel CUDA-event timings and the cuBLASLt comparison are
    // not implemented yet.
    std::fprintf(stderr, "  %s\n  per-kernel timings and the cuBLASLt comparison: not implemented in this build\n",
                 d->memory_report().c_str());
  }
}
}  // namespace

void add_bench(CLI::App& app) {
  auto a = std::make_shared<BenchArgs>();
  auto* s = app.add_subcommand("bench", "Measure training and encode throughput (samples/s, median of timed runs)");
  s->add_option("--spec", a->spec, "Layers")->capture_default_str();
  s->add_option("--batch", a->batch, "Batch")->capture_default_str();
  s->add_option("--threads", a->threads, "CPU threads (0 = all cores)")->capture_default_str();
  s->add_option("--loss", a->loss, "mse or bce")->capture_default_str();
  s->add_option("--optimizer", a->optimizer, "sgd, adam, adamw or rmsprop")->capture_default_str();
  s->add_option("--steps", a->steps, "Steps per timed run")->capture_default_str();
  s->add_option("--warmup", a->warmup, "Untimed steps first")->capture_default_str();
  s->add_option("--runs", a->runs, "Timed runs (the median is reported)")->capture_default_str();
  s->add_option("--device", a->device, "cpu, cuda (needs a GPU) or auto")->capture_default_str();
  s->add_flag("--json", a->json, "One JSON object");
  s->callback([a] { run_bench(*a); });
}

}  // namespace ae::cli
