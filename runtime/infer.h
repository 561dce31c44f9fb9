// Forward-only runs over a whole data set in batches: encode, decode, reconstruct.
#pragma once

#include <functional>
#include <vector>

#include "graph/build.h"
#include "runtime/backend.h"
#include "runtime/compiled_model.h"
#include "runtime/model.h"

namespace ae {

// Rows of `x` ([rows, width of the mode's input]) through the `mode` graph (encode, decode or
// reconstruct), `batch` rows at a time; returns [rows, width of the mode's output].
// `progress(rows_done)` is called after every batch when given.
std::vector<float> run_forward(const Model& model, Backend& backend, GraphMode mode, const float* x, int64_t rows,
                               int64_t batch = 1024, const std::function<void(int64_t)>& progress = nullptr);
// The same through a CompiledModel's kept executor (planned at min(batch, rows)), writing the
// [rows, output width] result to `out`: what repeated callers use, with nothing rebuilt or
// allocated per call once the executor exists.
void run_forward(CompiledModel& compiled, GraphMode mode, const float* x, int64_t rows, float* out,
                 int64_t batch = 1024, const std::function<void(int64_t)>& progress = nullptr);

}  // namespace ae
