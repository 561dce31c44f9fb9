// `ae plan --device cuda` counts the kernels each convolution and pool op launches on the cuda
// backend (host/cli/plan.cpp's table of kernels/cuda launchers): checked against the launches the
// cuda-sim backend actually makes for each op of a convolutional model's train step, op by op. The
// sim counts launches; a GPU build has no such counter, so this runs on cuda-sim only.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#if AE_CUDATEST_SIM
#include "graph/build.h"
#include "kernels/common/philox.h"
#include "runtime/backend.h"
#include "runtime/executor.h"
#include "runtime/model.h"
#include "runtime/sim/sim.h"
#include "tests/e2e/e2e_util.h"
#endif

namespace ae {
namespace {

#if AE_CUDATEST_SIM
// A strided and a 1-padded Conv2d, max pooling and upsampling, two ConvTranspose2d (one with output
// padding): every conv_fwd / conv_bwd shape the graph makes (the first layer's conv_bwd has no dx),
// and pool / pool_grad.
constexpr const char* SPEC = "1x12x12-C4k3s2p1r-C6k3s1p1r-M2|-U2-T4k3s1p1r-T1k3s2p1o1s";
constexpr int64_t BATCH = 3;

TEST(CudaPlanKernels, AePlanCountsTheLaunchesOfEveryConvolutionAndPoolOp) {
  e2e::ScratchDir dir;
  auto r = e2e::run_ae({"plan", "--device", "cuda", "--spec", SPEC, "--batch", std::to_string(BATCH), "--json"}, dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json est = nlohmann::json::parse(r.out).at("cuda_estimate").at("ops");

  cpu::OptConfig opt = cpu::default_opt_config(cpu::OptKind::adam);
  Model m = Model::create(parse_spec(SPEC), 1, Loss::mse);
  m.ensure_state_slots(cpu::opt_state_slots(opt));
  auto backend = make_backend("cuda-sim");
  Executor ex(make_plan(m.spec, GraphMode::train, m.loss, BATCH), *backend, m.params);
  const Plan& plan = ex.plan();
  ASSERT_EQ(est.size(), plan.ops.size()) << "ae plan made another plan than make_plan";
  float* x = ex.input();
  for (int64_t i = 0; i < BATCH * m.spec.input; ++i) x[i] = philox_uniform(5, 0, PhiloxPurpose::data, uint64_t(i));
  ex.set_use_graph(false);

  // Launches are counted as they are enqueued when streams run eagerly, so each lands between the
  // boundaries of the op that made it.
  backend->device()->synchronize();
  const bool deferred = sim::deferred_streams();
  sim::set_deferred_streams(false);
  std::vector<uint64_t> at;  // the launch count at boundary i (before op i; after the last op)
  ex.set_boundary_hook([&](size_t) { at.push_back(sim::stats().launches); });
  try {
    ex.run(BATCH, &opt, 1);
  } catch (...) {
    sim::set_deferred_streams(deferred);
    throw;
  }
  ex.set_boundary_hook(nullptr);
  sim::set_deferred_streams(deferred);
  ASSERT_EQ(at.size(), plan.ops.size() + 1);

  int checked = 0;
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    const PlanOp& op = plan.ops[i];
    ASSERT_EQ(est[i].at("op").get<std::string>(), plan_op_kind_name(op.kind)) << "op " << i;
    if (op.kind != PlanOpKind::conv_fwd && op.kind != PlanOpKind::conv_bwd && op.kind != PlanOpKind::pool &&
        op.kind != PlanOpKind::pool_grad)
      continue;
    EXPECT_EQ(est[i].at("kernels").get<uint64_t>(), at[i + 1] - at[i])
        << "op " << i << " " << plan_op_kind_name(op.kind) << (op.attr.conv.transposed ? " (transposed)" : "")
        << " outputs dW " << (op.out.size() > 0 && op.out[0] >= 0) << " db " << (op.out.size() > 1 && op.out[1] >= 0)
        << " dx " << (op.out.size() > 2 && op.out[2] >= 0);
    ++checked;
  }
  EXPECT_GE(checked, 12) << "4 conv_fwd, 4 conv_bwd, 2 pool, 2 pool_grad expected";
}
#endif

}  // namespace
}  // namespace ae
