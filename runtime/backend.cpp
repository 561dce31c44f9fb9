// Backend registry and the validating entry point.
#include "runtime/backend.h"

#include <map>
#include <mutex>

#include "kernels/common/error.h"

namespace ae {

std::unique_ptr<Backend> make_cpu_backend();  // runtime/cpu_backend.cpp
#if defined(AE_HAVE_CUDA_BACKEND)
// runtime/cuda/cuda_backend.cpp: "cuda-sim" (runtime/sim) or "cuda" (nvcc), one per build.
std::unique_ptr<Backend> make_cuda_backend();
bool cuda_backend_available();
const char* cuda_backend_name();
#endif

namespace {

struct Entry {
  BackendFactory make;
  std::function<bool()> available;
};

std::map<std::string, Entry>& registry() {
  static std::map<std::string, Entry> r = {
      {"cpu", {make_cpu_backend, [] { return true; }}},
#if defined(AE_HAVE_CUDA_BACKEND)
      {cuda_backend_name(), {make_cuda_backend, cuda_backend_available}},
#endif
  };
  return r;
}
std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}

}  // namespace

void register_backend(const std::string& name, BackendFactory factory, std::function<bool()> available) {
  std::lock_guard lock(registry_mutex());
  registry()[name] = {std::move(factory), std::move(available)};
}

std::vector<std::string> backend_names() {
  std::lock_guard lock(registry_mutex());
  std::vector<std::string> out;
  for (const auto& [n, e] : registry()) out.push_back(n);
  return out;
}

std::unique_ptr<Backend> make_backend(const std::string& name) {
  std::lock_guard lock(registry_mutex());
  auto& r = registry();
  if (name == "auto") {
    auto cuda = r.find("cuda");
    if (cuda != r.end() && cuda->second.available()) return cuda->second.make();
    return r.at("cpu").make();
  }
  auto it = r.find(name);
  if (it == r.end()) {
    std::string have;
    for (const auto& [n, e] : r) have += (have.empty() ? "" : ", ") + n;
    if (name == "cuda")
      AE_FAIL("--device cuda: this build of ae has no GPU backend (built here: ", have,
              ", auto); rebuild with -DAE_ENABLE_CUDA=ON on a machine with an NVIDIA GPU, or use --device cpu");
    if (name == "cuda-sim" && r.count("cuda"))
      AE_FAIL("--device cuda-sim: this build of ae has the GPU backend instead (-DAE_ENABLE_CUDA=ON builds cuda, the "
              "default build cuda-sim); built here: ", have, ", auto");
    if (name == "cuda-sim")
      AE_FAIL("--device cuda-sim: this build of ae has no cuda-sim backend (it needs runtime/sim: the CUDA toolkit "
              "headers and libboost-context-dev; built here: ", have, ", auto)");
    AE_FAIL("--device ", name, ": unknown device; expected one of: ", have, ", auto");
  }
  if (!it->second.available())
    AE_FAIL("--device ", name, ": no CUDA GPU is present on this machine (use --device cpu",
            r.count("cuda-sim") ? ", or cuda-sim to run the CUDA kernels on the CPU)"
                                : "; the default build's --device cuda-sim runs the CUDA kernels on the CPU)");
  return it->second.make();
}

std::string Backend::precision_support(Precision p) const {
  if (p == Precision(DType::f32)) return "";
  return std::string(precision_name(p)) + " is not available on the " + name() + " backend";
}

void Backend::run(const PlanOp& op, OpContext& ctx) {
  AE_CHECK(supports(op), "backend ", name(), " does not support op ", plan_op_kind_name(op.kind));
  AE_CHECK(ctx.batch >= 1 && ctx.batch <= ctx.plan->batch, "batch ", ctx.batch, " outside the planned 1..", ctx.plan->batch);
  if (op.kind == PlanOpKind::optimizer_step) {
    AE_CHECK(ctx.opt && ctx.step >= 1, "optimizer step without optimizer config");
    AE_CHECK(ctx.group_count >= 1 && ctx.group_count <= MAX_PARAM_GROUPS, "optimizer step with ", ctx.group_count,
             " parameter groups (expected 1..", MAX_PARAM_GROUPS, ")");
  }
  run_op(op, ctx);
}

void Backend::launch_plan(OpContext& ctx, std::unique_ptr<PlanCache>&) {
  run_ops(ctx);
}

void Backend::run_ops(OpContext& ctx) {
  const auto& ops = ctx.plan->ops;
  for (size_t i = 0; i < ops.size(); ++i) {
    if (ctx.on_boundary) ctx.on_boundary(i);
    run(ops[i], ctx);
  }
  if (ctx.on_boundary) ctx.on_boundary(ops.size());
}

}  // namespace ae
