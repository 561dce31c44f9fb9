// Batched forward passes.
#include "runtime/infer.h"

#include <algorithm>
#include <cstring>

#include "kernels/common/error.h"
#include "kernels/common/vae.h"
#include "runtime/executor.h"

namespace ae {

std::vector<float> run_forward(const Model& model, Backend& backend, GraphMode mode, const float* x, int64_t rows,
                               int64_t batch, const std::function<void(int64_t)>& progress) {
  const int64_t out_w = mode_output_width(model.spec, mode);
  std::vector<float> out(size_t(std::max<int64_t>(rows, 0) * out_w));
  CompiledModel compiled(model, backend, 1);
  run_forward(compiled, mode, x, rows, out.data(), batch, progress);
  return out;
}

void run_forward(CompiledModel& compiled, GraphMode mode, const float* x, int64_t rows, float* out, int64_t batch,
                 const std::function<void(int64_t)>& progress) {
  AE_CHECK(is_encode(mode) || mode == GraphMode::decode || mode == GraphMode::reconstruct,
           "run_forward takes encode (of any kind), decode or reconstruct");
  AE_CHECK(rows >= 0 && batch >= 1, "rows must be ≥ 0 and batch ≥ 1");
  const Model& model = compiled.model();
  const int64_t in_w = mode_input_width(model.spec, mode), out_w = mode_output_width(model.spec, mode);
  if (rows == 0) return;
  batch = std::min(batch, rows);
  Executor& ex = compiled.executor(mode, batch);
  const int out_tensor = ex.plan().graph.outputs.at(0);
  // encode_sample draws ε per data row (kernels/common/vae.h) at a step no training step reaches.
  ex.set_seed(model.seed);
  const int64_t step = mode == GraphMode::encode_sample ? int64_t(VAE_SCORE_STEP) : 0;
  for (int64_t r0 = 0; r0 < rows; r0 += batch) {
    int64_t n = std::min(batch, rows - r0);
    std::memcpy(ex.input(), x + r0 * in_w, size_t(n * in_w) * sizeof(float));
    ex.set_row_offset(uint64_t(r0));
    ex.run(n, nullptr, step);
    ex.read(out_tensor, out + r0 * out_w, n);
    if (progress) progress(r0 + n);
  }
}

}  // namespace ae
