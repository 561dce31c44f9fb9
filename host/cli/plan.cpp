// `ae plan`: what the graph compiler makes of a spec — fused ops, FLOPs, bytes, arena size.
#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "graph/plan.h"
#include "host/cli/cli.h"
#include "kernels/common/error.h"

namespace ae::cli {

namespace {
struct PlanArgs {
  std::string spec = DEFAULT_SPEC, mode = "train", loss = "mse", device = "cpu";
  int64_t batch = 256;
  bool json = false;
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
  if (a.device != "cpu" && a.device != "auto")
    AE_FAIL("--device ", a.device, ": this build plans for the cpu backend only (cuda plans arrive with the CUDA backend)");
  Spec spec = parse_spec(a.spec);
  BuildOptions bo;
  bo.mode = *mode;
  bo.loss = *loss;
  Plan p = make_plan(build_graph(spec, bo), *mode, a.batch);
  if (a.json) {
    nlohmann::json j = plan_json(p);
    j["spec"] = spec.to_compact();
    j["loss"] = loss_name(*loss);
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("spec: %s (%lld parameters), loss %s\n", spec.to_compact().c_str(), (long long)spec.parameter_count(), loss_name(*loss));
    std::printf("%s", plan_report(p).c_str());
  }
}
}  // namespace

void add_plan(CLI::App& app) {
  auto a = std::make_shared<PlanArgs>();
  auto* s = app.add_subcommand("plan", "Show the fused plan of a spec: ops, FLOPs, bytes, arena vs naive memory");
  s->add_option("--spec", a->spec, "Layers (compact string, JSON or .json file)")->capture_default_str();
  s->add_option("--batch", a->batch, "Batch the arena is planned for")->capture_default_str();
  s->add_option("--mode", a->mode, "train, eval, encode, decode or reconstruct")->capture_default_str();
  s->add_option("--loss", a->loss, "mse or bce")->capture_default_str();
  s->add_option("--device", a->device, "cpu or auto")->capture_default_str();
  s->add_flag("--json", a->json, "Machine-readable output");
  s->callback([a] { run_plan(*a); });
}

}  // namespace ae::cli
