// `ae plan`: what the graph compiler makes of a spec — fused ops, FLOPs, bytes, arena size.
#include <algorithm>
#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "graph/plan.h"
#include "host/cli/cli.h"
#include "kernels/common/error.h"

namespace ae::cli {

namespace {

// The analytic figures of a plan on the cuda backend (no GPU needed): FLOPs and global-memory
// bytes per op, kernel launches per step (one graph launch vs op by op), bytes per sample fused vs
// an unfused execution (every primitive IR node its own kernel reading and writing global memory),
// and a per-op roofline (max of compute and memory time) for A100 and H100 SXM. Estimates only.
// Under mixed precision the GEMMs of bf16/fp16 operands run on tensor cores (dense bf16/fp16 peak,
// no sparsity), and under tf32 the plain dense ops of fp32 operands (dense tf32 peak); every other
// op keeps the fp32 rate, and bytes come from the tensors' dtypes.
struct Gpu {
  const char* name;
  double flops, bandwidth;  // fp32 non-tensor FLOP/s, HBM bytes/s
  double tensor16;          // bf16/fp16 tensor-core FLOP/s (dense, fp32 accumulation)
  double tensor_tf32;       // tf32 tensor-core FLOP/s (dense)
};
constexpr Gpu GPUS[] = {{"A100", 19.5e12, 1.555e12, 312e12, 156e12}, {"H100 SXM", 67e12, 3.35e12, 989e12, 495e12}};

bool on_tensor_cores(const Plan& p, const PlanOp& op) {
  if (p.tf32) return is_plain_dense(op);  // the cuda backend's tf32 path (runtime/cuda/cuda_backend.cpp)
  const bool gemm = op.kind == PlanOpKind::dense_fwd || op.kind == PlanOpKind::dense_bwd || op.kind == PlanOpKind::matmul;
  return gemm && p.graph.tensors[size_t(op.in[0])].dtype != DType::f32;
}
double tensor_peak(const Plan& p, const Gpu& g) { return p.tf32 ? g.tensor_tf32 : g.tensor16; }

// Kernels ae's cuda backend launches for one op (kernels/cuda launchers).
int cuda_kernels(const PlanOp& op) {
  switch (op.kind) {
    case PlanOpKind::dense_fwd:                                       // tiled GEMM + bias/act epilogue
      return op.attr.sparsity.kind != SparsityKind::none ? 2 : 1;     // (+ the penalty's column sums, finalised)
    case PlanOpKind::sparsity: return 2;                              // column partials, then the value
    case PlanOpKind::contractive: return 3;                           // partials of a′², row norms, the value
    case PlanOpKind::dense_bwd: return op.out.size() > 2 && op.out[2] >= 0 ? 2 : 1;  // dW+db, then dx
    case PlanOpKind::loss_fwd:
    case PlanOpKind::loss_fwd_bwd: return 2;                          // element pass, ordered mean
    case PlanOpKind::optimizer_step: return 1;                        // multi-tensor
    case PlanOpKind::conv_fwd: return 1;                             // implicit GEMM + bias/act epilogue
    case PlanOpKind::conv_bwd: {  // kernels/cuda/conv.cu: the weight pass, the data pass, db's channel sums
      const bool dw = op.out[0] >= 0, db = op.out[1] >= 0, dx = op.out[2] >= 0;
      // A Conv2d's db rides in its weight pass; it needs a kernel of its own when there is none, and a
      // ConvTranspose2d's always does.
      return (dw ? 1 : 0) + (dx ? 1 : 0) + (db && (op.attr.conv.transposed || !dw) ? 1 : 0);
    }
    default: return 1;                                                // an unfused primitive: one kernel
  }
}

double unfused_bytes(const Plan& p) {
  double e = 0;
  auto bytes = [&](int t) { return t < 0 ? 0.0 : double(p.graph.tensors[size_t(t)].bytes(p.batch)); };
  for (const Node& n : p.graph.nodes) {
    double ne = 0;
    for (int t : n.in) ne += bytes(t);
    for (int t : n.out) ne += bytes(t);
    if (n.type == OpType::optimizer_update) ne *= 2.0;  // counted as the fused optimizer op counts it
    e += ne;
  }
  return e;
}

nlohmann::json cuda_estimate(const Plan& p) {
  nlohmann::json ops = nlohmann::json::array();
  int kernels = 0;
  double t_gpu[2] = {0, 0};
  for (const auto& op : p.ops) {
    double f = op.flops(p.batch, p.graph), b = op.bytes(p.batch, p.graph);
    nlohmann::json o = {{"op", plan_op_kind_name(op.kind)}, {"layer", op.layer}, {"flops", f}, {"bytes", b},
                        {"kernels", cuda_kernels(op)}, {"arithmetic_intensity", b > 0 ? f / b : 0.0}};
    for (int g = 0; g < 2; ++g) {
      double t = std::max(f / (on_tensor_cores(p, op) ? tensor_peak(p, GPUS[g]) : GPUS[g].flops), b / GPUS[g].bandwidth);
      t_gpu[g] += t;
      o[std::string("us_") + (g ? "h100" : "a100")] = t * 1e6;
    }
    kernels += cuda_kernels(op);
    ops.push_back(o);
  }
  const bool train = p.mode == GraphMode::train;
  const double fused = p.total_bytes(), unfused = unfused_bytes(p);
  nlohmann::json j = {
      {"estimate", true},
      {"note", "analytic estimate from the plan (no GPU measured): per-op roofline max(FLOPs/peak, bytes/bandwidth), "
               "launch and latency costs not modelled"},
      {"ops", ops},
      {"launches_per_step",
       {{"graph", 1}, {"op_by_op", kernels}, {"unfused", p.graph.nodes.size()},
        {"host_copies_per_step", train ? 2 : 1}}},  // input upload (copy stream) and the optimizer's step scalars
      {"bytes_per_sample", {{"fused", fused / double(p.batch)}, {"unfused", unfused / double(p.batch)}}},
      {"flops_per_sample", p.total_flops() / double(p.batch)}};
  for (int g = 0; g < 2; ++g)
    j["roofline"].push_back({{"gpu", GPUS[g].name}, {"peak_fp32_flops", GPUS[g].flops}, {"bandwidth", GPUS[g].bandwidth},
                             {"precision", precision_name(p.precision_setting())},
                             {"peak_tensor_flops", p.precision_setting() == Precision(DType::f32) ? 0.0 : tensor_peak(p, GPUS[g])},
                             {"step_us", t_gpu[g] * 1e6}, {"samples_per_s", double(p.batch) / t_gpu[g]}});
  return j;
}

std::string cuda_report(const nlohmann::json& j, int64_t batch) {
  std::string s = "\ncuda backend — ESTIMATES from the plan (analytic, no GPU measured):\n";
  char buf[256];
  std::snprintf(buf, sizeof buf, "  %-3s %-15s %5s %12s %12s %8s %10s %10s\n", "#", "op", "layer", "MFLOP", "KiB", "kernels",
                "A100 us", "H100 us");
  s += buf;
  int i = 0;
  for (const auto& o : j["ops"]) {
    std::snprintf(buf, sizeof buf, "  %-3d %-15s %5d %12.2f %12.1f %8d %10.2f %10.2f\n", i++,
                  o["op"].get<std::string>().c_str(), o["layer"].get<int>(), o["flops"].get<double>() / 1e6,
                  o["bytes"].get<double>() / 1024, o["kernels"].get<int>(), o["us_a100"].get<double>(),
                  o["us_h100"].get<double>());
    s += buf;
  }
  const auto& l = j["launches_per_step"];
  std::snprintf(buf, sizeof buf,
                "  launches per step: 1 CUDA graph launch (captured once, replayed) vs %d kernel launches op by op "
                "(%d unfused: one per IR node)\n",
                l["op_by_op"].get<int>(), l["unfused"].get<int>());
  s += buf;
  const auto& b = j["bytes_per_sample"];
  std::snprintf(buf, sizeof buf, "  global-memory bytes per sample: %.0f fused vs %.0f unfused (%.2fx less), batch %lld\n",
                b["fused"].get<double>(), b["unfused"].get<double>(), b["unfused"].get<double>() / b["fused"].get<double>(),
                (long long)batch);
  s += buf;
  for (const auto& r : j["roofline"]) {
    const double tc = r["peak_tensor_flops"].get<double>();
    std::snprintf(buf, sizeof buf, "  roofline estimate %-8s %s (%.1f TFLOP/s fp32%s, %.3f TB/s): %.1f us per step, %.0f samples/s\n",
                  r["gpu"].get<std::string>().c_str(), r["precision"].get<std::string>().c_str(),
                  r["peak_fp32_flops"].get<double>() / 1e12,
                  tc > 0 ? (", GEMMs on tensor cores at " + std::to_string(int(tc / 1e12)) + " TFLOP/s").c_str() : "",
                  r["bandwidth"].get<double>() / 1e12, r["step_us"].get<double>(), r["samples_per_s"].get<double>());
    s += buf;
  }
  s += "  (estimates: launch latency, occupancy and cache effects are not modelled; real figures need `ae bench --device cuda` on a GPU)\n";
  return s;
}

struct PlanArgs {
  std::string spec = DEFAULT_SPEC, mode = "train", loss = "mse", device = "cpu", precision = "fp32";
  int64_t batch = 256, phase = 0;
  bool json = false, tied = false;
  std::string sparsity, noise, contractive, beta, kl_warmup, adversarial, prior;
};

void run_plan(const PlanArgs& a) {
  auto loss = parse_loss_name(a.loss);
  if (!loss) AE_FAIL("--loss ", a.loss, ": unknown loss; expected one of: ", loss_names_list());
  static const std::pair<const char*, GraphMode> modes[] = {{"train", GraphMode::train}, {"eval", GraphMode::eval},
      {"encode", GraphMode::encode}, {"decode", GraphMode::decode}, {"reconstruct", GraphMode::reconstruct}};
  const GraphMode* mode = nullptr;
  for (const auto& [n, m] : modes)
    if (a.mode == n) mode = &m;
  if (!mode) AE_FAIL("--mode ", a.mode, ": expected one of: train, eval, encode, decode, reconstruct");
  if (a.batch < 1) AE_FAIL("--batch must be ≥ 1, got ", a.batch);
  // Plans are the same on every backend; cuda adds analytic estimates (no GPU is needed for them).
  const bool cuda = a.device == "cuda" || a.device == "cuda-sim";
  if (a.device != "cpu" && a.device != "auto" && !cuda)
    AE_FAIL("--device ", a.device, ": unknown device; expected one of: cpu, cuda, cuda-sim, auto");
  Spec spec = spec_from_args(a.spec, a.tied, a.sparsity, a.noise, a.contractive, a.beta, a.kl_warmup, a.adversarial, a.prior);
  // A training step of several phases (an adversarial autoencoder's) has a plan per phase.
  const auto phases = training_phases(spec);
  if (a.phase < 0 || a.phase >= int64_t(phases.size()) || (a.phase > 0 && *mode != GraphMode::train)) {
    std::string list;
    for (size_t i = 0; i < phases.size(); ++i) list += (i ? ", " : "") + std::to_string(i) + " " + phases[i].name;
    AE_FAIL("--phase ", a.phase, ": ", spec.to_compact(), " trains in ", phases.size(), " phase(s) (", list, ")",
            *mode != GraphMode::train ? "; --phase is for --mode train" : "");
  }
  BuildOptions bo;
  bo.mode = *mode;
  bo.loss = *loss;
  bo.phase = int(a.phase);
  const Precision precision = parse_precision(a.precision);
  Plan p = make_plan(build_graph(spec, bo), *mode, a.batch, true, precision);
  // Under mixed precision the arena is set beside the fp32 plan's, the figure the precision saves.
  const int64_t fp32_arena = precision.compute == DType::f32 ? p.arena_bytes : make_plan(build_graph(spec, bo), *mode, a.batch).arena_bytes;
  if (a.json) {
    nlohmann::json j = plan_json(p);
    if (precision.compute != DType::f32) j["fp32_arena_bytes"] = fp32_arena;
    j["spec"] = spec.to_compact();
    j["loss"] = loss_name(*loss);
    if (*mode == GraphMode::train) j["phase"] = {{"index", a.phase}, {"name", phases[size_t(a.phase)].name}, {"of", phases.size()}};
    if (cuda) j["cuda_estimate"] = cuda_estimate(p);
    if (cuda && precision != DType::f32) j["cuda_estimate_fp32"] = cuda_estimate(make_plan(build_graph(spec, bo), *mode, a.batch));
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("spec: %s (%lld parameters), loss %s\n", spec.to_compact().c_str(), (long long)spec.parameter_count(), loss_name(*loss));
    if (*mode == GraphMode::train && phases.size() > 1)
      std::printf("training phase %lld of %zu: %s (plans of the others: --phase N)\n", (long long)a.phase, phases.size(),
                  phases[size_t(a.phase)].name.c_str());
    std::printf("%s", plan_report(p).c_str());
    if (precision.compute != DType::f32)
      std::printf("  arena against fp32: %.2f MiB against %.2f MiB, ratio %.3f (bytes per sample %.0f against %.0f)\n",
                  double(p.arena_bytes) / (1 << 20), double(fp32_arena) / (1 << 20), double(p.arena_bytes) / double(fp32_arena),
                  double(p.arena_bytes) / double(a.batch), double(fp32_arena) / double(a.batch));
    if (cuda) std::printf("%s", cuda_report(cuda_estimate(p), a.batch).c_str());
    if (cuda && precision != DType::f32) {  // the same step in fp32, beside it
      const nlohmann::json fp32 = cuda_estimate(make_plan(build_graph(spec, bo), *mode, a.batch));
      for (const auto& r : fp32["roofline"])
        std::printf("  the fp32 plan       %-8s: %.1f us per step, %.0f samples/s (estimate)\n",
                    r["gpu"].get<std::string>().c_str(), r["step_us"].get<double>(), r["samples_per_s"].get<double>());
    }
  }
}
}  // namespace

void add_plan(CLI::App& app) {
  auto a = std::make_shared<PlanArgs>();
  auto* s = app.add_subcommand("plan", "Show the fused plan of a spec: ops, FLOPs, bytes, arena vs naive memory");
  s->add_flag("--tied", a->tied, "Tied weights (the decoder uses the encoder's weights, transposed)");
  s->add_option("--sparsity", a->sparsity, "Penalty on the code: l1:LAMBDA or kl:RHO:BETA (sigmoid code)")->each([](const std::string& v) { parse_sparsity(v, "--sparsity"); });
  add_contractive_option(*s, a->contractive);
  add_vae_options(*s, a->beta, a->kl_warmup);
  add_adversarial_options(*s, a->adversarial, a->prior);
  s->add_option("--noise", a->noise, NOISE_HELP)->each([](const std::string& v) { parse_noise(v, "--noise"); });
  s->add_option("--spec", a->spec, "Layers (compact string, JSON or .json file)")->capture_default_str();
  s->add_option("--batch", a->batch, "Batch the arena is planned for")->capture_default_str();
  s->add_option("--mode", a->mode, "train, eval, encode, decode or reconstruct")->capture_default_str();
  s->add_option("--phase", a->phase, "train: the training phase to show (an adversarial autoencoder has 3: 0 reconstruction, "
                                     "1 discriminator, 2 generator)")->capture_default_str();
  s->add_option("--loss", a->loss, "mse or bce")->capture_default_str();
  s->add_option("--device", a->device, "cpu, cuda (adds the analytic GPU estimates), cuda-sim or auto")->capture_default_str();
  add_precision_option(*s, a->precision);
  s->add_flag("--json", a->json, "Machine-readable output");
  s->callback([a] { run_plan(*a); });
}

}  // namespace ae::cli
