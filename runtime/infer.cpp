// Batched forward passes.
#include "runtime/infer.h"

#include <algorithm>
#include <cstring>

#include "kernels/common/error.h"
#include "runtime/executor.h"

namespace ae {

std::vector<float> run_forward(const Model& model, Backend& backend, GraphMode mode, const float* x, int64_t rows,
                               int64_t batch, const std::function<void(int64_t)>& progress) {
  const int64_t out_w = mode == GraphMode::encode ? model.spec.code_units() : model.spec.input;
  std::vector<float> out(size_t(std::max<int64_t>(rows, 0) * out_w));
  CompiledModel compiled(model, backend, 1);
  run_forward(compiled, mode, x, rows, out.data(), batch, progress);
  return out;
}

void run_forward(CompiledModel& compiled, GraphMode mode, const float* x, int64_t rows, float* out, int64_t batch,
                 const std::function<void(int64_t)>& progress) {
  AE_CHECK(mode == GraphMode::encode || mode == GraphMode::decode || mode == GraphMode::reconstruct,
           "run_forward takes encode, decode or reconstruct");
  AE_CHECK(rows >= 0 && batch >= 1, "rows must be ≥ 0 and batch ≥ 1");
  const Model& model = compiled.model();
  const int64_t in_w = mode == GraphMode::decode ? model.spec.code_units() : model.spec.input;
  const int64_t out_w = mode == GraphMode::encode ? model.spec.code_units() : model.spec.input;
  if (rows == 0) return;
  batch = std::min(batch, rows);
  Executor& ex = compiled.executor(mode, batch);
  const int out_tensor = ex.plan().graph.outputs.at(0);
  for (int64_t r0 = 0; r0 < rows; r0 += batch) {
    int64_t n = std::min(batch, rows - r0);
    std::memcpy(ex.input(), x + r0 * in_w, size_t(n * in_w) * sizeof(float));
    ex.run(n);
    ex.read(out_tensor, out + r0 * out_w, n);
    if (progress) progress(r0 + n);
  }
}

}  // namespace ae
