// StepScalarBlock and the StepScalars of a launch (runtime/cuda/step_block.h).
#include "runtime/cuda/step_block.h"

#include "kernels/common/error.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/optimizer.cuh"

namespace ae::cuda {

StepScalarBlock::StepScalarBlock(DevicePool& pool) : m_pool(pool) {
  m_device = static_cast<StepScalars*>(m_pool.allocate(sizeof(StepScalars)));
  try {
    AE_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&m_host), sizeof(StepScalars)));
    *m_host = StepScalars{};
    AE_CUDA_CHECK(cudaEventCreateWithFlags(&m_copied, cudaEventDisableTiming));
  } catch (...) {
    if (m_host) cudaFreeHost(m_host);
    m_pool.deallocate(m_device);
    throw;
  }
}

StepScalarBlock::~StepScalarBlock() {
  if (m_written) cudaEventSynchronize(m_copied);  // the copy still reads m_host
  cudaEventDestroy(m_copied);
  cudaFreeHost(m_host);
  m_pool.deallocate(m_device);
}

void StepScalarBlock::write(const StepScalars& s, cudaStream_t stream) {
  cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
  AE_CUDA_CHECK(cudaStreamIsCapturing(stream, &capturing));
  AE_CHECK(capturing == cudaStreamCaptureStatusNone,
           "step scalars written inside a CUDA-graph capture: the graph would replay this step's values forever");
  if (m_written) AE_CUDA_CHECK(cudaEventSynchronize(m_copied));  // done at once after a finished step
  *m_host = s;
  AE_CUDA_CHECK(cudaMemcpyAsync(m_device, m_host, sizeof(StepScalars), cudaMemcpyHostToDevice, stream));
  AE_CUDA_CHECK(cudaEventRecord(m_copied, stream));
  m_written = true;
}

StepScalars make_step_scalars(const OpContext& ctx) {
  AE_CHECK(ctx.group_count >= 0 && ctx.group_count <= MAX_PARAM_GROUPS, "step with ", ctx.group_count,
           " parameter groups: the step-scalar block holds at most ", MAX_PARAM_GROUPS);
  AE_CHECK(ctx.step >= 0 && uint64_t(ctx.step) < (uint64_t(1) << 56), "step ", ctx.step,
           " outside Philox's 0..2^56 − 1");
  StepScalars s{};
  s.step = ctx.step;
  s.seed = ctx.seed;
  s.row_offset = ctx.row_offset;
  s.loss_scale = ctx.loss_scale;
  s.group_count = ctx.group_count;
  for (int g = 0; g < ctx.group_count; ++g) {
    s.group[g].lr = float(ctx.lr[size_t(g)]);
    if (!ctx.opt || ctx.step < 1) continue;  // no optimizer this run: only the rate
    cpu::OptConfig cfg = *ctx.opt_for(g);
    cfg.lr = ctx.lr[size_t(g)];
    s.group[g] = make_group_step_scalars(cfg, ctx.step);
  }
  return s;
}

}  // namespace ae::cuda
