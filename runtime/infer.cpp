// Batched forward passes.
#include "runtime/infer.h"

#include <algorithm>
#include <cstring>

#include "kernels/common/error.h"
#include "runtime/executor.h"

namespace ae {

std::vector<float> run_forward(const Model& model, Backend& backend, GraphMode mode, const float* x, int64_t rows,
                               int64_t batch, const std::function<void(int64_t)>& progress) {
  AE_CHECK(mode == GraphMode::encode || mode == GraphMode::decode || mode == GraphMode::reconstruct,
           "run_forward takes encode, decode or reconstruct");
  AE_CHECK(rows >= 0 && batch >= 1, "rows must be ≥ 0 and batch ≥ 1");
  int64_t in_w = mode == GraphMode::decode ? model.spec.code_units() : model.spec.input;
  int64_t out_w = mode == GraphMode::encode ? model.spec.code_units() : model.spec.input;
  std::vector<float> out(size_t(rows * out_w));
  if (rows == 0) return out;
  batch = std::min(batch, rows);
  Executor ex(make_plan(model.spec, mode, model.loss, batch), backend, const_cast<ParamStore&>(model.params));
  for (int64_t r0 = 0; r0 < rows; r0 += batch) {
    int64_t n = std::min(batch, rows - r0);
    std::memcpy(ex.input(), x + r0 * in_w, size_t(n * in_w) * sizeof(float));
    ex.run(n);
    ex.read(ex.plan().graph.outputs.at(0), out.data() + r0 * out_w, n);
    if (progress) progress(r0 + n);
  }
  return out;
}

}  // namespace ae
