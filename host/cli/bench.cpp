// `ae bench`: training and encode throughput of one model on one backend: samples per second,
// the median of several timed loops after warm-up. Peers (PyTorch) are measured side by side
// by bench/peers/compare.py, which runs this command and the peer in the same session.
// On a GPU (nvcc build, --device cuda) it adds what only cudaEvents can measure: the step as CUDA
// graph replays, every kernel of the train plan, cuBLASLt on the same GEMM shapes and cuDNN on the
// same convolutions (runtime/cuda/bench_cuda.h). Without a GPU it says so and exits 1; cuda-sim is
// refused.
#include <algorithm>
#include <chrono>
#include <cmath>
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
#if defined(AE_HAVE_CUDA_BENCH)
#include "runtime/cuda/bench_cuda.h"
#endif

namespace ae::cli {

namespace {
struct BenchArgs {
  std::string spec = DEFAULT_SPEC, loss = "mse", optimizer = "adam", device = "cpu", precision = "fp32";
  int64_t batch = 256, steps = 50, warmup = 10, runs = 7;
  int threads = 0;
  bool json = false, tied = false;
  std::string sparsity, noise, contractive, beta, kl_warmup, adversarial, prior;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Samples/s of `runs` timed loops of `steps` executions each, after `warmup` executions.
// `step` counts the optimizer steps taken so far.
std::vector<double> time_loops(Executor& ex, const BenchArgs& a, const cpu::OptConfig* opt, int64_t& step) {
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

#if defined(AE_HAVE_CUDA_BENCH)
// The cudaEvent timings of a real GPU: whole step as graph replays (train and encode), each op of
// the train plan, cuBLASLt beside every dense_fwd and cuDNN beside every convolution pass. Printed
// after the wall-clock loops, or merged into one JSON object with them.
nlohmann::json device_timings(const BenchArgs& a, Executor& train_ex, Executor& encode_ex, const cpu::OptConfig& opt,
                              int64_t& step) {
  cuda_bench::Repeat r{a.warmup, a.steps, a.runs};
  cuda_bench::DeviceLabel dl = cuda_bench::device_label();
  auto train_ms = cuda_bench::time_graph_steps(train_ex, &opt, step, r);
  int64_t no_step = 0;  // encode plans have no optimizer
  auto encode_ms = cuda_bench::time_graph_steps(encode_ex, nullptr, no_step, r);
  auto ops = cuda_bench::time_ops(train_ex, &opt, step, r);
  auto gemms = cuda_bench::compare_gemms(train_ex, r);
  const bool has_conv = std::any_of(train_ex.plan().ops.begin(), train_ex.plan().ops.end(), [](const PlanOp& op) {
    return op.kind == PlanOpKind::conv_fwd || op.kind == PlanOpKind::conv_bwd;
  });
  cuda_bench::ConvComparisons convs;
  if (has_conv) convs = cuda_bench::compare_convs(train_ex, r);
  auto rate = [&](double ms) { return ms > 0 ? double(a.batch) / (ms * 1e-3) : 0.0; };
  nlohmann::json j = {{"gpu", {{"name", dl.name}, {"sm_count", dl.sm_count},
                               {"compute_capability", std::to_string(dl.cc_major) + "." + std::to_string(dl.cc_minor)},
                               {"memory_gib", dl.mem_gib}}},
                      {"gpu_train_ms_per_step_runs", train_ms}, {"gpu_encode_ms_per_step_runs", encode_ms},
                      {"gpu_train_samples_per_s", rate(median(train_ms))},
                      {"gpu_encode_samples_per_s", rate(median(encode_ms))}};
  for (const auto& o : ops)
    j["kernels"].push_back({{"index", o.index}, {"op", o.op}, {"kernel", o.kernel}, {"M", o.m}, {"N", o.n}, {"K", o.k},
                            {"ms", o.ms}, {"gflops", o.gflops}, {"gbps", o.gbps}});
  for (const auto& g : gemms)
    j["cublaslt"].push_back({{"index", g.index}, {"M", g.m}, {"N", g.n}, {"K", g.k}, {"act", g.act},
                             {"epilogue", g.epilogue}, {"comparable", g.comparable}, {"ae_ms", g.ae_ms},
                             {"cublaslt_ms", g.cublas_ms}, {"ratio", g.ratio}, {"max_abs_diff", g.max_abs_diff}});
  if (has_conv) {
    j["cudnn"] = {{"built", convs.cudnn}, {"note", convs.note}, {"ops", nlohmann::json::array()}};
    for (const auto& c : convs.rows)
      j["cudnn"]["ops"].push_back({{"index", c.index}, {"pass", c.pass}, {"layer", c.layer}, {"cudnn_call", c.cudnn_call},
                                   {"ae_work", c.ae_work}, {"algo", c.algo}, {"workspace_mib", c.workspace_mib},
                                   {"ae_ms", c.ae_ms}, {"cudnn_ms", c.cudnn_ms}, {"ratio", c.ratio},
                                   {"max_abs_diff", c.max_abs_diff}, {"worst_vs_bound", c.worst_vs_bound},
                                   {"within_tolerance", c.within_tolerance}, {"skipped", c.skipped}});
  }
  return j;
}

// A cuDNN comparison whose outputs disagree beyond the bound: printed first, then an error.
void check_convs(const nlohmann::json& j) {
  if (!j.contains("cudnn")) return;
  for (const auto& c : j["cudnn"]["ops"])
    if (c["skipped"].get<std::string>().empty() && !c["within_tolerance"].get<bool>())
      AE_FAIL("ae bench: op #", c["index"].get<int>(), " ", c["pass"].get<std::string>(), " (",
              c["layer"].get<std::string>(), "): ae's output differs from cuDNN's beyond the bound (",
              c["worst_vs_bound"].is_number() ? c["worst_vs_bound"].get<double>() : INFINITY, " times it)");
}

#else
nlohmann::json device_timings(const BenchArgs&, Executor&, Executor& encode_ex, const cpu::OptConfig&, int64_t&) {
  // Only the nvcc build has a GPU backend; cuda-sim was refused above. Never report sim time.
  AE_FAIL("--device ", encode_ex.backend().name(), ": this build of ae has no GPU timings (build with -DAE_ENABLE_CUDA=ON)");
}
void check_convs(const nlohmann::json&) {}
#endif

// The conv passes beside cuDNN; without cuDNN in the build, the note says why there are none.
void print_cudnn(const BenchArgs& a, const nlohmann::json& d) {
  if (!d["built"].get<bool>()) {
    std::printf("\n  convolutions beside cuDNN: %s\n", d["note"].get<std::string>().c_str());
    return;
  }
  std::printf("\n  convolutions beside cuDNN (each alone, median of %lld runs of %lld calls):\n  (%s)\n",
              (long long)a.runs, (long long)a.steps, d["note"].get<std::string>().c_str());
  std::printf("  %-3s %-10s %-34s %-14s %-25s %9s %9s %8s %9s %s\n", "#", "pass", "layer", "ae also", "cuDNN algorithm",
              "ae µs", "cuDNN µs", "ae/cuDNN", "max|Δ|", "check");
  for (const auto& c : d["ops"]) {
    if (!c["skipped"].get<std::string>().empty()) {
      std::printf("  %-3d %-10s %-34s not compared: %s\n", c["index"].get<int>(), c["pass"].get<std::string>().c_str(),
                  c["layer"].get<std::string>().c_str(), c["skipped"].get<std::string>().c_str());
      continue;
    }
    char diff[32];  // JSON keeps a non-finite difference as null
    std::snprintf(diff, sizeof diff, c["max_abs_diff"].is_number() ? "%.2e" : "NaN/Inf",
                  c["max_abs_diff"].is_number() ? c["max_abs_diff"].get<double>() : 0.0);
    const std::string algo = c["algo"].get<std::string>() + " " +
                             (c["cudnn_call"].get<std::string>() == "ConvolutionForward"        ? "(fwd)"
                              : c["cudnn_call"].get<std::string>() == "ConvolutionBackwardData" ? "(bwd data)"
                                                                                                 : "(bwd filter)");
    std::printf("  %-3d %-10s %-34s %-14s %-25s %9.2f %9.2f %8.2f %9s %s\n", c["index"].get<int>(),
                c["pass"].get<std::string>().c_str(), c["layer"].get<std::string>().c_str(),
                c["ae_work"].get<std::string>().c_str(), algo.c_str(), c["ae_ms"].get<double>() * 1e3,
                c["cudnn_ms"].get<double>() * 1e3, c["ratio"].get<double>(), diff,
                c["within_tolerance"].get<bool>() ? "ok" : "MISMATCH");
  }
}

void print_gpu(const BenchArgs& a, const nlohmann::json& j) {
  const auto& g = j["gpu"];
  std::printf("  gpu   : %s, %d SMs, sm_%s, %.1f GiB\n", g["name"].get<std::string>().c_str(), g["sm_count"].get<int>(),
              g["compute_capability"].get<std::string>().c_str(), g["memory_gib"].get<double>());
  std::printf("  train : %10.0f samples/s  on the GPU (the backend's CUDA graph, cudaEvents around each replay; median of %lld runs of %lld steps)\n",
              j["gpu_train_samples_per_s"].get<double>(), (long long)a.runs, (long long)a.steps);
  std::printf("  encode: %10.0f samples/s  on the GPU\n", j["gpu_encode_samples_per_s"].get<double>());
  std::printf("\n  train plan op by op (cudaEvents around each op, median of %lld sequences):\n", (long long)a.runs);
  std::printf("  %-3s %-15s %-22s %6s %6s %6s %10s %10s %9s\n", "#", "op", "kernel", "M", "N", "K", "µs", "GFLOP/s", "GB/s");
  for (const auto& o : j.value("kernels", nlohmann::json::array()))
    std::printf("  %-3d %-15s %-22s %6lld %6lld %6lld %10.2f %10.1f %9.1f\n", o["index"].get<int>(),
                o["op"].get<std::string>().c_str(), o["kernel"].get<std::string>().c_str(), (long long)o["M"].get<int64_t>(),
                (long long)o["N"].get<int64_t>(), (long long)o["K"].get<int64_t>(), o["ms"].get<double>() * 1e3,
                o["gflops"].get<double>(), o["gbps"].get<double>());
  std::printf("\n  dense_fwd beside cuBLASLt (fp32 compute, no TF32; each alone, median of %lld runs of %lld calls):\n",
              (long long)a.runs, (long long)a.steps);
  std::printf("  %-3s %6s %6s %6s %-8s %-10s %10s %12s %8s %10s\n", "#", "M", "N", "K", "act", "epilogue", "ae µs",
              "cuBLASLt µs", "ae/cuBLASLt", "max|Δ|");
  for (const auto& c : j.value("cublaslt", nlohmann::json::array())) {
    char diff[32] = "-";  // the epilogue computes another function than ae's activation
    if (c["comparable"].get<bool>())  // JSON keeps a non-finite difference as null
      std::snprintf(diff, sizeof diff, c["max_abs_diff"].is_number() ? "%.2e" : "NaN/Inf",
                    c["max_abs_diff"].is_number() ? c["max_abs_diff"].get<double>() : 0.0);
    std::printf("  %-3d %6lld %6lld %6lld %-8s %-10s %10.2f %12.2f %11.2f %10s\n", c["index"].get<int>(),
                (long long)c["M"].get<int64_t>(), (long long)c["N"].get<int64_t>(), (long long)c["K"].get<int64_t>(),
                c["act"].get<std::string>().c_str(), c["epilogue"].get<std::string>().c_str(), c["ae_ms"].get<double>() * 1e3,
                c["cublaslt_ms"].get<double>() * 1e3, c["ratio"].get<double>(), diff);
  }
  if (j.contains("cudnn")) print_cudnn(a, j["cudnn"]);
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
  Model model = Model::create(
      spec_from_args(a.spec, a.tied, a.sparsity, a.noise, a.contractive, a.beta, a.kl_warmup, a.adversarial, a.prior), 1, *loss);
  // The timed loops run one train plan; an adversarial autoencoder's step is three (one per phase),
  // so timing the first alone would overstate its speed threefold or more.
  if (training_phases(model.spec).size() > 1)
    AE_FAIL("ae bench: ", model.spec.to_compact(), " trains in ", training_phases(model.spec).size(),
            " phases a step and ae bench times one plan; not supported yet (ae plan --phase N shows each phase's plan and FLOPs)");
  cpu::OptConfig opt = cpu::default_opt_config(*kind);
  model.ensure_state_slots(cpu::opt_state_slots(opt));
  model.precision = parse_precision(a.precision);
  check_precision(*backend, model.precision);

  auto make = [&](GraphMode mode) {
    return std::make_unique<Executor>(make_plan(model.spec, mode, *loss, a.batch, true, model.precision), *backend,
                                      model.params);
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
  int64_t step = 1, no_step = 0;  // optimizer steps so far (a device executor ran step 1 above)
  auto train_rates = time_loops(*train_ex, a, &opt, step);
  auto encode_rates = time_loops(*encode_ex, a, nullptr, no_step);
  double flops = train_ex->plan().total_flops() / double(a.batch);
  double tr = median(train_rates), en = median(encode_rates);
  nlohmann::json gpu;  // the cudaEvent timings of a GPU; null on host backends
  if (backend->device()) gpu = device_timings(a, *train_ex, *encode_ex, opt, step);
  if (a.json) {
    nlohmann::json j = {{"engine", "ae"}, {"spec", model.spec.to_compact()}, {"batch", a.batch}, {"threads", threads},
                        {"loss", loss_name(*loss)}, {"optimizer", cpu::opt_name(opt.kind)}, {"device", backend->name()},
                        {"precision", precision_name(model.precision)},
                        {"backend", backend->description()}, {"train_samples_per_s", tr}, {"encode_samples_per_s", en},
                        {"train_runs", train_rates}, {"encode_runs", encode_rates}, {"train_flops_per_sample", flops},
                        {"train_gflops", tr * flops / 1e9}, {"steps", a.steps}, {"runs", a.runs}, {"warmup", a.warmup}};
    if (!gpu.is_null()) j.update(gpu);
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("ae bench: %s, batch %lld, %s, %s, %d threads, %s\n  backend: %s\n", model.spec.to_compact().c_str(),
                (long long)a.batch, loss_name(*loss), cpu::opt_name(opt.kind), threads, precision_name(model.precision),
                backend->description().c_str());
    std::printf("  train : %10.0f samples/s  (median of %lld runs of %lld steps; %.1f GFLOP/s)\n", tr, (long long)a.runs,
                (long long)a.steps, tr * flops / 1e9);
    std::printf("  encode: %10.0f samples/s\n", en);
    if (!gpu.is_null()) {
      std::printf("          (the two lines above: wall clock of Executor::run, one host sync and loss read-back per step)\n");
      print_gpu(a, gpu);
    }
  }
  if (Device* d = backend->device()) std::fprintf(stderr, "  %s\n", d->memory_report().c_str());
  check_convs(gpu);  // after the figures are out
}
}  // namespace

void add_bench(CLI::App& app) {
  auto a = std::make_shared<BenchArgs>();
  auto* s = app.add_subcommand("bench", "Measure training and encode throughput (samples/s, median of timed runs)");
  s->add_flag("--tied", a->tied, "Tied weights (the decoder uses the encoder's weights, transposed)");
  s->add_option("--sparsity", a->sparsity, "Penalty on the code: l1:LAMBDA or kl:RHO:BETA (sigmoid code)")->each([](const std::string& v) { parse_sparsity(v, "--sparsity"); });
  add_contractive_option(*s, a->contractive);
  add_vae_options(*s, a->beta, a->kl_warmup);
  add_adversarial_options(*s, a->adversarial, a->prior);
  s->add_option("--noise", a->noise, NOISE_HELP)->each([](const std::string& v) { parse_noise(v, "--noise"); });
  s->add_option("--spec", a->spec, "Layers")->capture_default_str();
  s->add_option("--batch", a->batch, "Batch")->capture_default_str();
  s->add_option("--threads", a->threads, "CPU threads (0 = all cores)")->capture_default_str();
  add_precision_option(*s, a->precision);
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
